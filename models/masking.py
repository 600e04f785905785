"""Encoder -> masker -> decoder: the skeleton of the learned-basis families (Conv-TasNet,
DPRNN, DPTNet, SepFormer, SuDoRM-RF), as in the lecture's ESD framing and asteroid's split.
(TasNet rescales every segment by its input norm and uPIT masks an STFT, so both implement
:class:`~models.base.Separator` directly.)

A family subclasses :class:`EncoderMaskerDecoder` and hands its constructor three modules;
:meth:`EncoderMaskerDecoder.pad` is the one method a family may override (Conv-TasNet's and
SuDoRM-RF's framing).

- ``encoder``: ``[B, 1, T'] -> [B, N, K]`` (a learned filterbank; ``T'`` is ``T`` padded)
- ``masker``: ``[B, N, K] -> [B, S, N, K]`` (masks, already activated)
- ``decoder``: ``[B * S, N, K] -> [B * S, 1, T']``

Inputs of any length are padded at the end to what the encoder's stride needs, and outputs
are cut back to ``T`` samples.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from .base import Separator
from .blocks.losses import pit_neg_si_snr


class EncoderMaskerDecoder(Separator):
    """A masking separator in the learned-basis domain.

    Args:
        encoder, masker, decoder: see the module docstring.
        n_src: number of sources ``S``.
        sample_rate: Hz.
        kernel_size: encoder window ``L`` (samples); stride: hop (samples).
    """

    def __init__(self, encoder: nn.Module, masker: nn.Module, decoder: nn.Module, n_src: int,
                 sample_rate: int, kernel_size: int, stride: int) -> None:
        super().__init__(n_src, sample_rate)
        self.encoder, self.masker, self.decoder = encoder, masker, decoder
        self.kernel_size, self.stride = kernel_size, stride

    def pad(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, 1, T']`` with ``T' >= max(T, L)`` and ``(T' - L) % stride == 0``."""
        t = mixture.shape[-1]
        frames = max(1, math.ceil((t - self.kernel_size) / self.stride) + 1)
        total = (frames - 1) * self.stride + self.kernel_size
        return nn.functional.pad(mixture, (0, total - t)).unsqueeze(1)

    def forward(self, mixture: Tensor) -> Tensor:
        self._check_mixture(mixture)
        b, t = mixture.shape
        feats = self.encoder(self.pad(mixture))  # [B, N, K]
        masks = self.masker(feats)  # [B, S, N, K]
        masked = (masks * feats.unsqueeze(1)).reshape(b * self.n_src, *feats.shape[1:])
        out = self.decoder(masked).reshape(b, self.n_src, -1)  # [B, S, T']
        return out[..., :t]

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        self._check_sources(mixture, sources)
        loss, _ = pit_neg_si_snr(self(mixture), sources)
        return loss
