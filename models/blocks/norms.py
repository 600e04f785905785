"""Normalisations of the Conv-TasNet paper (Luo & Mesgarani 2019, section II-C), on ``[B, C, K]``,
looked up by name with :func:`get` (asteroid's ``norms.get``): every family builds its
channel norms through it, so "gLN" means the same module everywhere.

- gLN, global layer norm: statistics over channels *and* time; non-causal. Written as
  ``GroupNorm(1, C, eps=1e-8)``, which is exactly torchaudio's Conv-TasNet gLN, the reference
  DPRNN's, SpeechBrain's SepFormer's and the SuDoRM-RF authors' ``GroupNorm(1, C)``. GroupNorm
  takes any trailing shape, so the same module normalises ``[B, C, K, S]`` chunk tensors.
- cLN, cumulative layer norm: statistics over channels and frames ``<= k`` only; causal.
- chLN, channel-wise layer norm: statistics over channels per frame; causal.
- BN: batch norm; causal in eval mode (fixed statistics).

Feature-last LayerNorms inside Transformer and LSTM stacks (``[batch, seq, D]``, per step) are
plain ``nn.LayerNorm`` where they are used; they are not channel norms of this kind.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def global_layer_norm(channels: int, eps: float = 1e-8) -> nn.GroupNorm:
    """gLN over ``[B, C, K]``."""
    return nn.GroupNorm(1, channels, eps=eps)


class CumulativeLayerNorm(nn.Module):
    """cLN: frame ``k`` is normalised with the mean and variance of frames ``0..k``."""

    def __init__(self, channels: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(1, channels, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:  # [B, C, K]
        c = x.shape[1]
        count = c * torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)  # [K]
        cum_sum = x.sum(1).cumsum(-1)  # [B, K]
        cum_pow = x.pow(2).sum(1).cumsum(-1)
        mean = cum_sum / count
        var = (cum_pow / count - mean.pow(2)).clamp_min(0)
        return (x - mean[:, None]) / (var[:, None] + self.eps).sqrt() * self.gamma + self.beta


class ChannelLayerNorm(nn.Module):
    """Layer norm over channels at each frame of ``[B, C, K]`` (causal)."""

    def __init__(self, channels: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


_REGISTRY: dict[str, Callable[[int], nn.Module]] = {
    "gLN": global_layer_norm,
    "cLN": CumulativeLayerNorm,
    "chLN": ChannelLayerNorm,
    "BN": nn.BatchNorm1d,
}

NORMS: tuple[str, ...] = tuple(_REGISTRY)
"""Every norm name :func:`get` knows."""

CAUSAL_NORMS: tuple[str, ...] = ("cLN", "chLN")
"""Norms whose output at frame ``k`` depends on frames ``<= k`` only (BN too, in eval mode)."""


def get(kind: str, channels: int) -> nn.Module:
    """A fresh norm ``kind`` (one of :data:`NORMS`) over the ``channels`` of ``[B, C, K]``.

    Raises:
        ValueError: unknown ``kind``; the message lists :data:`NORMS`.
    """
    try:
        make = _REGISTRY[kind]
    except KeyError:
        raise ValueError(f"unknown norm {kind!r}; known: {list(NORMS)}") from None
    return make(channels)
