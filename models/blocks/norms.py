"""Normalisations of the Conv-TasNet paper (Luo & Mesgarani 2019, section II-C), on ``[B, C, K]``.

- gLN, global layer norm: statistics over channels *and* time; non-causal. Written as
  ``GroupNorm(1, C, eps=1e-8)``, which is exactly torchaudio's Conv-TasNet gLN.
- cLN, cumulative layer norm: statistics over channels and frames ``<= k`` only; causal.
- cgLN / channel-wise LN: statistics over channels per frame; causal.
"""

from __future__ import annotations

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


def make_norm(kind: str, channels: int) -> nn.Module:
    """``'gLN'`` | ``'cLN'`` | ``'chLN'`` | ``'BN'`` on ``[B, C, K]``."""
    if kind == "gLN":
        return global_layer_norm(channels)
    if kind == "cLN":
        return CumulativeLayerNorm(channels)
    if kind == "chLN":
        return ChannelLayerNorm(channels)
    if kind == "BN":
        return nn.BatchNorm1d(channels)
    raise ValueError(f"unknown norm {kind!r} (gLN, cLN, chLN, BN)")
