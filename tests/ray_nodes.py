"""Stopping the Ray processes a test started, and only those: `ray stop --force` would stop every
Ray instance on the machine (another engineer's study, a CI job beside this one)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _pids_using(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                pids.append(int(proc.name))
        except OSError:  # gone, or not ours to read
            continue
    return pids


def stop_ray_under(temp_dir: Path, grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``, every process whose command line names ``temp_dir``
    (Ray passes its ``--temp-dir`` to every process it starts: GCS, raylets, workers)."""
    marker = str(temp_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_using(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while _pids_using(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
