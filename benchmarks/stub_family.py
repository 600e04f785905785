"""A stub separator family that trains in milliseconds, for benchmarks of the harness itself.

It is registered as ``stub`` through the public registry API and loaded through the plugin hook
(``SWEEP_PLUGINS=stub_family`` with ``benchmarks/`` on ``PYTHONPATH``; see ``models/__init__.py``),
never by the built-in families: a study of it measures Ray, Optuna, the store and the report,
not a network. This is the one place where a stub is right (``benchmarks/bounded_growth.py``).

The model keeps the :class:`~sweep.models.Separator` contract: mixture ``[B, T]`` -> ``[B, S, T]``
with exactly ``T`` samples for any ``T >= 1``, shape errors naming the expected shape, and a
finite uPIT negative SI-SNR training loss. Each output stream is the mixture through one short
learned FIR filter (``taps`` coefficients and a bias per source): ``S * (taps + 1)``
parameters, 8 at the default of 3 taps and 2 sources.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sweep.models import Family, HParam, Separator, register
from sweep.models.blocks.losses import pit_neg_si_snr

NAME = "stub"


class StubSeparator(Separator):
    """One learned FIR filter per source over the mixture.

    Args:
        n_src: number of output streams ``S``.
        sample_rate: Hz (recorded only; the filter does not depend on it).
        taps: filter length in samples; output sample ``t`` sees input samples
            ``t - taps // 2 ... t + (taps - 1) // 2`` (zero-padded at both ends).
        init_scale: the filters start at ``init_scale / S`` on the centre tap (a fraction of
            the mixture) plus a little seeded noise, so the streams differ.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, taps: int = 3, init_scale: float = 1.0) -> None:
        super().__init__(n_src, sample_rate)
        self.pad = (taps // 2, (taps - 1) // 2)  # "same" length for odd and even taps
        self.filters = nn.Conv1d(1, n_src, kernel_size=taps)
        with torch.no_grad():
            self.filters.weight.mul_(0.1)
            self.filters.weight[:, 0, taps // 2] += init_scale / n_src
            self.filters.bias.zero_()

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]`` for any ``T >= 1``."""
        self._check_mixture(mixture)
        return self.filters(nn.functional.pad(mixture.unsqueeze(1), self.pad))

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """uPIT negative SI-SNR (dB), as the TasNet families train."""
        self._check_sources(mixture, sources)
        loss, _ = pit_neg_si_snr(self(mixture), sources)
        return loss


FAMILY = register(
    Family(
        name=NAME,
        description=("A benchmark stub: each source is the mixture through one short learned FIR filter. "
                     "It trains in milliseconds, so a study of it measures the harness, not a network."),
        blocks={
            "encoder": "none (the waveform itself)",
            "separator": "none",
            "mask head": "none",
            "decoder": "one learned FIR filter of `taps` samples per source",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("taps", "int", 3, low=1, high=63, doc="FIR filter length in samples"),
                HParam("init_scale", "float", 1.0, low=0.0, high=2.0, doc="initial centre-tap gain, times S"),
            )
        },
        presets={"paper": {"taps": 3}, "cpu": {"taps": 3}},
        builder=StubSeparator,
    )
)
