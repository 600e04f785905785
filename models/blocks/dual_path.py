"""Dual-path processing (Luo, Chen, Yoshioka 2020), shared by DPRNN and DPTNet.

A long frame sequence ``[B, N, T]`` is cut into ``S`` chunks of ``K`` frames with hop
``P = K // 2`` (50 % overlap) -> ``[B, N, K, S]``. A dual-path block then runs one module
*within* every chunk (intra-chunk, along ``K``: local structure) and one *across* chunks
(inter-chunk, along ``S``: utterance-level structure), so every frame reaches every other
frame in two steps of sequence length ``~sqrt(2T)`` instead of one of length ``T``.
Overlap-add brings ``[B, N, K, S]`` back to ``[B, N, T]``.

Chunk grid: ``K - P`` zero frames in front (``P`` for even ``K``, the reference code's
choice) and enough at the end that every real frame lies in the same number of chunks
(two for even ``K``). The grid depends only on ``T``, never on the signal, so the inter-chunk
direction is a clean time axis (what the causal variants rely on).

Overlap-add *averages* the chunks covering a frame (the reference code sums, i.e. doubles):
with averaging, :func:`overlap_add` exactly inverts :func:`chunk`, and the scale at the
output does not depend on ``K``; the following 1x1 convolutions make the two equivalent.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from models.blocks.norms import make_norm


# -- Chunking ------------------------------------------------------------------------------


def chunk_grid(T: int, K: int, P: int) -> tuple[int, int, int]:
    """Layout of the chunks for ``T`` frames.

    Returns:
        ``(front, padded, S)``: zero frames before the signal, total padded length, and the
        number of chunks, with ``padded = (S - 1) * P + K >= front + T + (K - P)``.
    """
    if not 1 <= P <= K:
        raise ValueError(f"need 1 <= hop P <= chunk size K, got P={P}, K={K}")
    front = K - P
    S = max(1, math.ceil((T + 2 * front - K) / P) + 1)
    return front, (S - 1) * P + K, S


def chunk(x: Tensor, K: int, P: int | None = None) -> Tensor:
    """Segment ``[B, N, T]`` into overlapping chunks ``[B, N, K, S]`` (hop ``P``, default ``K // 2``)."""
    P = K // 2 if P is None else P
    T = x.shape[-1]
    front, padded, _ = chunk_grid(T, K, P)
    x = nn.functional.pad(x, (front, padded - front - T))
    return x.unfold(-1, K, P).transpose(-1, -2)  # [B, N, S, K] -> [B, N, K, S]


def overlap_add(chunks: Tensor, T: int, P: int | None = None) -> Tensor:
    """Inverse of :func:`chunk`: ``[B, N, K, S] -> [B, N, T]``, averaging overlapping chunks.

    Args:
        chunks: ``[B, N, K, S]`` as laid out by :func:`chunk` for ``T`` frames.
        T: number of frames to return.
        P: hop (default ``K // 2``).
    """
    B, N, K, S = chunks.shape
    P = K // 2 if P is None else P
    front, padded, S_expected = chunk_grid(T, K, P)
    if S != S_expected:
        raise ValueError(f"{S} chunks do not match T={T}, K={K}, P={P} (expected {S_expected})")
    fold = dict(output_size=(padded, 1), kernel_size=(K, 1), stride=(P, 1))
    summed = nn.functional.fold(chunks.reshape(B, N * K, S), **fold)  # [B, N, padded, 1]
    ones = torch.ones(1, K, S, dtype=chunks.dtype, device=chunks.device)
    count = nn.functional.fold(ones, **fold)  # [1, 1, padded, 1]: chunks per frame
    return (summed / count)[:, :, front : front + T, 0]


# -- Norms and the dual-path block ---------------------------------------------------------


class DualPathNorm(nn.Module):
    """A ``[B, C, T]`` norm of :func:`models.blocks.norms.make_norm` applied to ``[B, C, K, S]``.

    The chunks are laid end to end in chunk order (``[B, C, S * K]``): gLN then normalises
    over everything (the reference DPRNN's ``GroupNorm(1, C)`` on the 4-D tensor), and cLN
    accumulates statistics over earlier chunks plus the current chunk up to the current
    frame, which is causal in the inter-chunk direction.
    """

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.norm = make_norm(kind, channels)

    def forward(self, x: Tensor) -> Tensor:
        B, C, K, S = x.shape
        flat = x.transpose(2, 3).reshape(B, C, S * K)
        return self.norm(flat).reshape(B, C, S, K).transpose(2, 3)


class DualPathBlock(nn.Module):
    """One intra-chunk then one inter-chunk pass over ``[B, C, K, S]``.

    Args:
        intra: sequence module ``[batch, K, C] -> [batch, K, C]`` run on every chunk.
        inter: sequence module ``[batch, S, C] -> [batch, S, C]`` run on every intra-chunk
            position across chunks. Batch-first, feature-last, like ``nn.LSTM(batch_first)``.
        intra_norm, inter_norm: when given, the path is ``x + norm(f(x))`` with the norm on
            the whole 4-D tensor (DPRNN); when ``None`` the module owns its residual and
            normalisation (a transformer layer, DPTNet) and the path is ``f(x)``.
    """

    def __init__(self, intra: nn.Module, inter: nn.Module, intra_norm: nn.Module | None = None,
                 inter_norm: nn.Module | None = None) -> None:
        super().__init__()
        self.intra, self.inter = intra, inter
        self.intra_norm, self.inter_norm = intra_norm, inter_norm

    def forward(self, x: Tensor) -> Tensor:
        B, C, K, S = x.shape
        y = self.intra(x.permute(0, 3, 2, 1).reshape(B * S, K, C))  # chunks as the batch
        y = y.reshape(B, S, K, C).permute(0, 3, 2, 1)
        x = y if self.intra_norm is None else x + self.intra_norm(y)
        y = self.inter(x.permute(0, 2, 3, 1).reshape(B * K, S, C))  # positions as the batch
        y = y.reshape(B, K, S, C).permute(0, 3, 1, 2)
        return y if self.inter_norm is None else x + self.inter_norm(y)


# -- The masker shared by DPRNN and DPTNet -------------------------------------------------

MASK_ACTIVATIONS = ("relu", "sigmoid", "softmax")


class DualPathMasker(nn.Module):
    """Encoder features ``[B, N, T]`` -> masks ``[B, S, N, T]`` through dual-path blocks.

    norm -> 1x1 conv ``N -> D`` (bottleneck) -> chunk ``[B, D, K, S]`` -> blocks ->
    PReLU + 1x1 2-D conv to ``n_src * D`` -> overlap-add per source -> output gate
    ``tanh(conv) * sigmoid(conv)`` -> 1x1 conv ``D -> N`` -> mask activation. This is the
    reference DPRNN / DPTNet code and asteroid's DPRNN; the bottleneck and mask convs are
    bias-free as in the reference code.

    Args:
        N: encoder filters (mask size per frame).
        D: feature dimension inside the dual-path blocks.
        n_src: sources ``S``.
        blocks: the dual-path blocks, each ``[B, D, K, S] -> [B, D, K, S]``.
        K: chunk size in frames; the hop is ``K // 2``.
        norm: ``'gLN'`` (non-causal) or ``'cLN'`` (causal) on the encoder output.
        mask_act: ``'relu'``, ``'sigmoid'`` or ``'softmax'`` (across sources).
    """

    def __init__(self, N: int, D: int, n_src: int, blocks: list[nn.Module], K: int,
                 norm: str = "gLN", mask_act: str = "relu") -> None:
        super().__init__()
        if K < 2:
            raise ValueError(f"chunk size K must be >= 2 frames (hop K // 2 >= 1), got {K}")
        if mask_act not in MASK_ACTIVATIONS:
            raise ValueError(f"mask_act must be one of {list(MASK_ACTIVATIONS)}, got {mask_act!r}")
        self.N, self.D, self.n_src, self.K, self.mask_act = N, D, n_src, K, mask_act
        self.in_norm = make_norm(norm, N)
        self.bottleneck = nn.Conv1d(N, D, 1, bias=False)
        self.blocks = nn.Sequential(*blocks)
        self.first_out = nn.Sequential(nn.PReLU(), nn.Conv2d(D, n_src * D, 1))
        self.out_tanh = nn.Sequential(nn.Conv1d(D, D, 1), nn.Tanh())
        self.out_gate = nn.Sequential(nn.Conv1d(D, D, 1), nn.Sigmoid())
        self.mask_conv = nn.Conv1d(D, N, 1, bias=False)

    def forward(self, w: Tensor) -> Tensor:
        B, N, T = w.shape
        x = chunk(self.bottleneck(self.in_norm(w)), self.K)  # [B, D, K, S]
        x = self.first_out(self.blocks(x))  # [B, n_src * D, K, S]
        x = x.reshape(B * self.n_src, self.D, *x.shape[-2:])
        x = overlap_add(x, T)  # [B * n_src, D, T]
        score = self.mask_conv(self.out_tanh(x) * self.out_gate(x)).reshape(B, self.n_src, N, T)
        if self.mask_act == "softmax":
            return torch.softmax(score, dim=1)
        return torch.sigmoid(score) if self.mask_act == "sigmoid" else torch.relu(score)
