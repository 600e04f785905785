"""The reproducibility record: which code, which libraries and which device ran a study or a trial.

Computed once per process (``git`` is a subprocess; asking per row written was the old cost).
"""

from __future__ import annotations

import functools
import platform
import subprocess
from pathlib import Path

import sweep

_CHECKOUT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(_CHECKOUT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.cache
def code_version() -> str:
    """Package version plus the git commit when run from a checkout (``0.2.0+abc1234``)."""
    rev = (_git("rev-parse", "--short", "HEAD") or "").strip()
    return f"{sweep.__version__}+{rev}" if rev else sweep.__version__


@functools.cache
def code_dirty() -> bool | None:
    """True if the checkout has uncommitted changes to tracked files; None outside a checkout."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status.strip())


def _version(distribution: str) -> str | None:
    """The version a loaded module reports (torch's carries its build, e.g. ``+cu130``), else the
    installed distribution's, without paying for an import."""
    import sys
    from importlib.metadata import PackageNotFoundError, version

    loaded = sys.modules.get(distribution)
    if loaded is not None and getattr(loaded, "__version__", None):
        return str(loaded.__version__)
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (``platform.processor()`` is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str = "cpu") -> str:
    """The GPU's name for a CUDA device, else the CPU model."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return cpu_name()


def _libraries() -> tuple[tuple[str, str | None], ...]:
    return (("torch_version", _version("torch")), ("ray_version", _version("ray")),
            ("optuna_version", _version("optuna")))


def runtime_record(device: str = "cpu") -> dict[str, object]:
    """Column values of :class:`sweep.store.tables._Runtime` for this process."""
    return {"code_version": code_version(), "code_dirty": code_dirty(), **dict(_libraries()),
            "device_name": device_name(device)}
