"""A trial's peak memory: resident set (RSS) of its worker process and, on CUDA, GPU memory.

Ray reuses a worker process for trial after trial (``reuse_actors``), so the process's own
high-water marks (``getrusage``'s ``ru_maxrss``) would carry one trial's peak into the next.
Each trial resets them when it starts: on Linux, writing ``5`` to ``/proc/self/clear_refs``
resets the kernel's RSS high-water mark (``VmHWM`` in ``/proc/self/status``); on CUDA,
``torch.cuda.reset_peak_memory_stats``. Where the kernel's mark cannot be reset (not Linux, a
kernel before 4.0), a thread samples ``VmRSS`` (or ``ru_maxrss``) every 50 ms instead.
"""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mb(key: str) -> float | None:
    """A ``kB`` line of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MiB; None off Linux."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _maxrss_mb() -> float:
    """The process's lifetime peak RSS in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


class PeakMemory:
    """Peak RSS and GPU memory of this process since :meth:`reset` (or construction).

    Args:
        device: the trial's device; GPU figures only on CUDA.
        earlier: the peaks of earlier runs of the same trial (a resumed trial's checkpoint),
            folded into every :meth:`read`.
    """

    def __init__(self, device: torch.device, earlier: dict[str, float] | None = None) -> None:
        self.device, self.earlier = device, dict(earlier or {})
        self._sampled = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            _CLEAR_REFS.write_text("5")
            self._kernel_mark = _status_mb("VmHWM") is not None
        except OSError:
            self._kernel_mark = False
        if not self._kernel_mark and self._thread is None:
            self._thread = threading.Thread(target=self._sample, name="sweep-peak-rss", daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._sampled = max(self._sampled, _status_mb("VmRSS") or _maxrss_mb())

    def read(self) -> dict[str, float]:
        """``{"peak_rss_mb": .., "peak_gpu_mb": ..}`` (MiB; GPU only on CUDA: the caching
        allocator's peak of allocated tensors, ``torch.cuda.max_memory_allocated``)."""
        rss = _status_mb("VmHWM") if self._kernel_mark else max(self._sampled, _status_mb("VmRSS") or 0.0)
        peaks = {"peak_rss_mb": round(float(rss or _maxrss_mb()), 1)}
        if self.device.type == "cuda":
            peaks["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
        for key, value in self.earlier.items():
            peaks[key] = max(peaks.get(key, 0.0), float(value))
        return peaks

    def close(self) -> None:
        self._stop.set()
