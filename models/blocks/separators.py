"""The families' separators behind one interface, so that any of them can sit between any
encoder and any mask head (the composable family :mod:`models.esd`).

Every separator here maps encoder features to ``out_channels`` per frame, ending with its own
per-frame output projection (the first layer of the paper's mask estimator), and keeps the
frame count:

    features [B, C_in, K] --separator core--> [B, width, K] --(PReLU) 1x1 to out_channels--> [B, out, K]

``width`` is the core's own output size (the gated mask head keeps it, see
:mod:`models.blocks.mask_heads`); ``out_channels`` is ``S x`` what the mask head wants per
source. The projection lives in the separator, not the head, because DPRNN applies it to the
chunked tensor *before* overlap-add, and the PReLU before it is not linear, so it cannot move.

==============  ==============================================================  ============
separator       core (the family's block, reused)                               output stage
==============  ==============================================================  ============
RNNSeparator    uPIT's (B)LSTM stack (:class:`~models.blocks.rnn.RNNStack`)     Linear
TCNSeparator    Conv-TasNet's TCN (:class:`~models.blocks.tcn.TCN`)             PReLU + 1x1
DualPath...     norm, 1x1 bottleneck, chunk, dual-path blocks (DPRNN, DPTNet)   PReLU + 1x1, overlap-add
UConvSeparator  gLN, 1x1 bottleneck, SuDoRM-RF's U-ConvBlocks                   1x1 (blocks end in PReLU)
==============  ==============================================================  ============

Module names follow the family modules (``tcn``, ``in_norm``, ``bottleneck``, ``blocks``), so a
family's state dict maps onto a composed model prefix by prefix (:data:`models.esd.KEY_MAPS`).
"""

from __future__ import annotations

from torch import Tensor, nn

from . import norms
from .dual_path import OVERLAP_REDUCTIONS, chunk, overlap_add
from .rnn import RNNStack
from .tcn import TCN
from .uconv import UConvBlock


class RNNSeparator(nn.Module):
    """uPIT's separator: a BLSTM stack over frames and a per-frame linear layer.

    Args:
        in_channels: features per frame ``C_in`` (uPIT: ``F = 129`` bins).
        out_channels: outputs per frame.
        hidden_size: units per layer and direction (uPIT paper: 896).
        num_layers: stacked BLSTM layers (uPIT paper: 3).

    Shapes:
        ``[B, C_in, K] -> [B, out_channels, K]``; ``width = 2 * hidden_size``.
    """

    def __init__(self, in_channels: int, out_channels: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.stack = RNNStack(in_channels, hidden_size, num_layers, bidirectional=True)
        self.width = self.stack.output_size
        self.out = nn.Linear(self.width, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.stack(x.transpose(1, 2))).transpose(1, 2)  # frames first for the LSTM


class TCNSeparator(nn.Module):
    """Conv-TasNet's separator: the TCN (gLN, bottleneck ``B``, ``X * R`` dilated conv blocks, skip
    sum of ``Sc`` channels), then PReLU and a 1x1 conv.

    Shapes:
        ``[B, C_in, K] -> [B, out_channels, K]``; ``width = Sc``.
    """

    def __init__(self, in_channels: int, out_channels: int, B: int, H: int, P: int, X: int, R: int,
                 Sc: int) -> None:
        super().__init__()
        self.tcn = TCN(in_channels, B, H, P, X, R, Sc, norm="gLN", causal=False)
        self.width = Sc
        self.out = nn.Sequential(nn.PReLU(), nn.Conv1d(Sc, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.tcn(x))


class DualPathSeparator(nn.Module):
    """DPRNN's and DPTNet's separator: norm, bias-free 1x1 bottleneck ``C_in -> D``, chunks of
    ``K`` frames (hop ``K // 2``), the dual-path blocks, PReLU and a 1x1 2-D conv on the chunks,
    then overlap-add. :class:`~models.blocks.dual_path.DualPathMasker` up to its ``first_out``.

    Args:
        in_channels: features per frame ``C_in``.
        out_channels: outputs per frame.
        D: feature dimension inside the blocks.
        blocks: dual-path blocks ``[B, D, K, S] -> [B, D, K, S]`` (what runs intra- and
            inter-chunk is the family's choice: :func:`models.dprnn.dprnn_block`, ...).
        K: chunk size in frames.
        norm: :mod:`models.blocks.norms` name of the input norm.
        overlap: ``"mean"`` or ``"sum"`` overlap-add (:mod:`models.blocks.dual_path`).

    Shapes:
        ``[B, C_in, T] -> [B, out_channels, T]``; ``width = D``.
    """

    def __init__(self, in_channels: int, out_channels: int, D: int, blocks: list[nn.Module], K: int,
                 norm: str = "gLN", overlap: str = "mean") -> None:
        super().__init__()
        if K < 2:
            raise ValueError(f"chunk size K must be >= 2 frames (hop K // 2 >= 1), got {K}")
        if overlap not in OVERLAP_REDUCTIONS:
            raise ValueError(f"overlap must be one of {list(OVERLAP_REDUCTIONS)}, got {overlap!r}")
        self.K, self.overlap, self.width = K, overlap, D
        self.in_norm = norms.get(norm, in_channels)
        self.bottleneck = nn.Conv1d(in_channels, D, 1, bias=False)
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Sequential(nn.PReLU(), nn.Conv2d(D, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[-1]
        chunks = chunk(self.bottleneck(self.in_norm(x)), self.K)  # [B, D, K, S]
        return overlap_add(self.out(self.blocks(chunks)), T, reduce=self.overlap)  # [B, out, T]


class UConvSeparator(nn.Module):
    """SuDoRM-RF's separator: gLN, 1x1 bottleneck ``C_in -> C``, U-ConvBlocks (``C_U`` channels
    inside, ``Q`` stride-2 downsamplings), then a 1x1 conv (no PReLU: each block ends with one).

    Any frame count works; a multiple of ``2^Q`` restores every level exactly
    (:mod:`models.blocks.uconv`).

    Shapes:
        ``[B, C_in, K] -> [B, out_channels, K]``; ``width = C``.
    """

    def __init__(self, in_channels: int, out_channels: int, C: int, C_U: int, num_blocks: int, Q: int) -> None:
        super().__init__()
        self.width = C
        self.in_norm = norms.get("gLN", in_channels)
        self.bottleneck = nn.Conv1d(in_channels, C, 1)
        self.blocks = nn.Sequential(*(UConvBlock(C, C_U, Q) for _ in range(num_blocks)))
        self.out = nn.Conv1d(C, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.blocks(self.bottleneck(self.in_norm(x))))
