"""Gated multi-scale dilated conv block of FurcaNeXt's FurcaPy (Shi et al., MMM 2020): a
Conv-TasNet conv block whose single depthwise conv is replaced by a *pyramid* of gated dilated
depthwise convs of several kernel sizes, mixed by weights the block computes from its own input
("dynamic weighting").

    x [batch, B, K] --1x1 B->H, PReLU, gLN--> u [batch, H, K]
        for each kernel size P_j:  g_j = tanh(dwconv_j(u)) ⊙ sigmoid(dwconv'_j(u))   (dilation d)
        α = softmax_j(Linear(H -> J)(mean over frames of u))                         [batch, J]
        v = Σ_j α_j g_j --gLN--> --1x1 H->B--> residual (added to x)
                                 --1x1 H->Sc--> skip
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import norms
from .tcn import DepthwiseConv


class GatedDilatedConv(nn.Module):
    """``tanh(filter(u)) ⊙ sigmoid(gate(u))``, both depthwise and dilated; ``[b, H, K] -> [b, H, K]``."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.filter = DepthwiseConv(channels, kernel_size, dilation, causal=False)
        self.gate = DepthwiseConv(channels, kernel_size, dilation, causal=False)

    def forward(self, u: Tensor) -> Tensor:
        return torch.tanh(self.filter(u)) * torch.sigmoid(self.gate(u))


class GatedPyramidBlock(nn.Module):
    """One block of the gated pyramid TCN; see the module docstring.

    Args:
        B: residual-path channels. H: channels inside. Sc: skip channels.
        kernel_sizes: the pyramid's kernel sizes (one gated conv each).
        dilation: of every conv in the pyramid.
        residual: build the residual 1x1 conv (False for the last block).

    Shapes:
        ``[batch, B, K] -> (residual [batch, B, K] or None, skip [batch, Sc, K])``.
    """

    def __init__(self, B: int, H: int, Sc: int, kernel_sizes: tuple[int, ...], dilation: int,
                 residual: bool = True) -> None:
        super().__init__()
        self.expand = nn.Sequential(nn.Conv1d(B, H, 1), nn.PReLU(), norms.get("gLN", H))
        self.pyramid = nn.ModuleList(GatedDilatedConv(H, p, dilation) for p in kernel_sizes)
        self.weights = nn.Linear(H, len(kernel_sizes))
        self.norm = norms.get("gLN", H)
        self.res_out = nn.Conv1d(H, B, 1) if residual else None
        self.skip_out = nn.Conv1d(H, Sc, 1)

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        u = self.expand(x)
        alpha = self.weights(u.mean(dim=-1)).softmax(dim=-1)  # [batch, J]: per utterance
        streams = torch.stack([conv(u) for conv in self.pyramid], dim=1)  # [batch, J, H, K]
        v = self.norm((alpha[:, :, None, None] * streams).sum(dim=1))
        return (None if self.res_out is None else self.res_out(v)), self.skip_out(v)


class GatedPyramidTCN(nn.Module):
    """gLN, 1x1 ``N -> B``, ``X * R`` :class:`GatedPyramidBlock` (dilations ``2**x``), skip sum.

    Shapes:
        ``[batch, N, K] -> [batch, Sc, K]``.
    """

    def __init__(self, N: int, B: int, H: int, Sc: int, X: int, R: int, kernel_sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.input = nn.Sequential(norms.get("gLN", N), nn.Conv1d(N, B, 1))
        self.blocks = nn.ModuleList(
            GatedPyramidBlock(B, H, Sc, kernel_sizes, 2**x, residual=not (r == R - 1 and x == X - 1))
            for r in range(R)
            for x in range(X)
        )

    def forward(self, w: Tensor) -> Tensor:
        feats, skip_sum = self.input(w), 0.0
        for block in self.blocks:
            residual, skip = block(feats)
            if residual is not None:
                feats = feats + residual
            skip_sum = skip_sum + skip
        return skip_sum  # type: ignore[return-value]
