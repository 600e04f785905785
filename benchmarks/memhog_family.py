"""A family whose training step runs out of memory under a small memory cap, on purpose: the
fault campaign's out-of-memory fault (``benchmarks/fault_campaign.py --only oom``).

Loaded through the plugin hook (``SWEEP_PLUGINS=memhog_family`` with ``benchmarks/`` on
``PYTHONPATH``; see ``models/__init__.py``). Each source is the mixture through one learned gain
(``S`` parameters). With ``hog_mb > 0``, every training step first lowers the process's
address-space limit to what it uses now plus ``cap_mb`` and asks PyTorch's allocator for
``hog_mb`` MiB: the allocation fails as a real out-of-memory does (``DefaultCPUAllocator:
can't allocate memory``), without endangering the machine, and the limit is restored at once
(Ray may run the next trial in the same worker process).
"""

from __future__ import annotations

import contextlib
import resource
from typing import Iterator

import torch
from torch import Tensor, nn

from sweep.models import Family, HParam, Separator, register
from sweep.models.blocks.losses import pit_neg_si_snr

NAME = "memhog"


@contextlib.contextmanager
def memory_cap(extra_mb: int) -> Iterator[None]:
    """Limit this process's address space to its current size plus ``extra_mb`` MiB."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + extra_mb * 2**20, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class MemoryHog(Separator):
    """``[B, T] -> [B, S, T]``: one learned gain per source; a training step that allocates
    ``hog_mb`` MiB under a ``cap_mb`` MiB cap (0: an ordinary step)."""

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, hog_mb: int = 0, cap_mb: int = 256) -> None:
        super().__init__(n_src, sample_rate)
        self.gains = nn.Parameter(torch.linspace(0.3, 0.7, n_src))
        self.hog_mb, self.cap_mb = hog_mb, cap_mb

    def forward(self, mixture: Tensor) -> Tensor:
        self._check_mixture(mixture)
        return mixture.unsqueeze(1) * self.gains.view(1, -1, 1)

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        self._check_sources(mixture, sources)
        if self.hog_mb:
            with memory_cap(self.cap_mb):
                hog = torch.ones(self.hog_mb * 2**18)  # float32: hog_mb MiB
            del hog
        loss, _ = pit_neg_si_snr(self(mixture), sources)
        return loss


FAMILY = register(
    Family(
        name=NAME,
        description="A fault-injection family: its training step runs out of memory under a small cap.",
        blocks={"encoder": "none", "separator": "none", "mask head": "none", "decoder": "one gain per source"},
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("hog_mb", "int", 0, low=0, high=1 << 20, doc="MiB each training step allocates (0: none)"),
                HParam("cap_mb", "int", 256, low=1, high=1 << 20, doc="MiB above current use the step may take"),
            )
        },
        presets={"paper": {}, "cpu": {}},
        builder=MemoryHog,
    )
)
