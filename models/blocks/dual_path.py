"""Dual-path processing (Luo, Chen, Yoshioka 2020), shared by DPRNN, DPTNet and SepFormer.

A long frame sequence ``[B, N, T]`` is cut into ``S`` chunks of ``K`` frames with hop
``P = K // 2`` (50 % overlap) -> ``[B, N, K, S]``. A dual-path block then runs one module
*within* every chunk (intra-chunk, along ``K``: local structure) and one *across* chunks
(inter-chunk, along ``S``: utterance-level structure), so every frame reaches every other
frame in two steps of sequence length ``~sqrt(2T)`` instead of one of length ``T``.
Overlap-add brings ``[B, N, K, S]`` back to ``[B, N, T]``.

Chunk grid: ``front`` zero frames before the signal and enough at the end that every real
frame lies in the same number of chunks (two for even ``K``). ``front`` defaults to ``K - P``,
the reference DPRNN code's choice; SpeechBrain's SepFormer pads ``P`` (the two agree for even
``K``). The grid depends only on ``T``, never on the signal, so the inter-chunk direction is a
clean time axis (what the causal variants rely on).

Overlap-add either *averages* the chunks covering a frame (``reduce="mean"``, DPRNN / DPTNet
here) or *sums* them (``reduce="sum"``, the reference DPRNN code and SpeechBrain's SepFormer,
i.e. doubles): with averaging :func:`overlap_add` exactly inverts :func:`chunk` and the scale at
the output does not depend on ``K``; the 1x1 convolutions that follow make the two equivalent
in what they can learn, and summing keeps SepFormer's numbers those of a ported checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import activations, norms

OVERLAP_REDUCTIONS = ("mean", "sum")


# -- Chunking ------------------------------------------------------------------------------


def chunk_grid(T: int, K: int, P: int, front: int | None = None) -> tuple[int, int, int]:
    """Layout of the chunks for ``T`` frames.

    Args:
        T: frames; K: chunk size; P: hop.
        front: zero frames before the signal (default ``K - P``).

    Returns:
        ``(front, padded, S)``: zero frames before the signal, total padded length, and the
        number of chunks, with ``padded = (S - 1) * P + K >= front + T + (K - P)``.
    """
    if not 1 <= P <= K:
        raise ValueError(f"need 1 <= hop P <= chunk size K, got P={P}, K={K}")
    front = K - P if front is None else front
    if not 0 <= front < K:
        raise ValueError(f"need 0 <= front < chunk size K, got front={front}, K={K}")
    S = max(1, math.ceil((front + T - P) / P) + 1)
    return front, (S - 1) * P + K, S


def chunk(x: Tensor, K: int, P: int | None = None, front: int | None = None) -> Tensor:
    """Segment ``[B, N, T]`` into overlapping chunks ``[B, N, K, S]``.

    Args:
        x: ``[B, N, T]`` frames.
        K: chunk size; P: hop (default ``K // 2``); front: see :func:`chunk_grid`.
    """
    P = K // 2 if P is None else P
    T = x.shape[-1]
    front, padded, _ = chunk_grid(T, K, P, front)
    x = nn.functional.pad(x, (front, padded - front - T))
    return x.unfold(-1, K, P).transpose(-1, -2)  # [B, N, S, K] -> [B, N, K, S]


def overlap_add(chunks: Tensor, T: int, P: int | None = None, front: int | None = None,
                reduce: str = "mean") -> Tensor:
    """Inverse of :func:`chunk`: ``[B, N, K, S] -> [B, N, T]``.

    Args:
        chunks: ``[B, N, K, S]`` as laid out by :func:`chunk` for ``T`` frames.
        T: number of frames to return.
        P: hop (default ``K // 2``); front: as given to :func:`chunk`.
        reduce: ``"mean"`` averages the chunks covering a frame (exact inverse of
            :func:`chunk`), ``"sum"`` adds them (see the module docstring).
    """
    if reduce not in OVERLAP_REDUCTIONS:
        raise ValueError(f"reduce must be one of {list(OVERLAP_REDUCTIONS)}, got {reduce!r}")
    B, N, K, S = chunks.shape
    P = K // 2 if P is None else P
    front, padded, S_expected = chunk_grid(T, K, P, front)
    if S != S_expected:
        raise ValueError(f"{S} chunks do not match T={T}, K={K}, P={P} (expected {S_expected})")
    fold = dict(output_size=(padded, 1), kernel_size=(K, 1), stride=(P, 1))
    summed = nn.functional.fold(chunks.reshape(B, N * K, S), **fold)  # [B, N, padded, 1]
    if reduce == "mean":
        ones = torch.ones(1, K, S, dtype=chunks.dtype, device=chunks.device)
        summed = summed / nn.functional.fold(ones, **fold)  # [1, 1, padded, 1]: chunks per frame
    return summed[:, :, front : front + T, 0]


# -- Norms and the dual-path block ---------------------------------------------------------


class DualPathNorm(nn.Module):
    """A ``[B, C, T]`` norm of :func:`models.blocks.norms.get` applied to ``[B, C, K, S]``.

    The chunks are laid end to end in chunk order (``[B, C, S * K]``): gLN then normalises
    over everything (the reference DPRNN's ``GroupNorm(1, C)`` on the 4-D tensor), and cLN
    accumulates statistics over earlier chunks plus the current chunk up to the current
    frame, which is causal in the inter-chunk direction.
    """

    def __init__(self, kind: str, channels: int) -> None:
        super().__init__()
        self.norm = norms.get(kind, channels)

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
            the whole 4-D tensor (DPRNN, SepFormer); when ``None`` the module owns its residual
            and normalisation (DPTNet's transformer layer) and the path is ``f(x)``.
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


# -- The masker shared by DPRNN, DPTNet and SepFormer ---------------------------------------


class DualPathMasker(nn.Module):
    """Encoder features ``[B, N, T]`` -> masks ``[B, S, N, T]`` through dual-path blocks.

    norm -> 1x1 conv ``N -> D`` (bottleneck) -> chunk ``[B, D, K, S]`` -> blocks ->
    PReLU + 1x1 2-D conv to ``n_src * D`` -> overlap-add per source -> output gate
    ``tanh(conv) * sigmoid(conv)`` -> 1x1 conv ``D -> N`` -> mask activation. This is the
    reference DPRNN / DPTNet code, asteroid's DPRNN and SpeechBrain's ``Dual_Path_Model`` (the
    SepFormer recipe); the bottleneck and mask convs are bias-free as in the reference code.

    Args:
        N: encoder filters (mask size per frame).
        D: feature dimension inside the dual-path blocks.
        n_src: sources ``S``.
        blocks: the dual-path blocks, each ``[B, D, K, S] -> [B, D, K, S]``; what runs intra-
            and inter-chunk (RNN, transformer) is the family's choice.
        K: chunk size in frames; the hop is ``K // 2``.
        norm: a :mod:`models.blocks.norms` name for the encoder output: ``'gLN'``
            (non-causal) or ``'cLN'`` (causal).
        mask_act: a :data:`models.blocks.activations.ACTIVATIONS` name (``softmax`` across sources).
        overlap: ``"mean"`` or ``"sum"``, how overlap-add merges chunks (see the module docstring).
        front: zero frames before the first chunk (default ``K - K // 2``; SpeechBrain: ``K // 2``).
    """

    def __init__(self, N: int, D: int, n_src: int, blocks: list[nn.Module], K: int,
                 norm: str = "gLN", mask_act: str = "relu", overlap: str = "mean",
                 front: int | None = None) -> None:
        super().__init__()
        if K < 2:
            raise ValueError(f"chunk size K must be >= 2 frames (hop K // 2 >= 1), got {K}")
        if overlap not in OVERLAP_REDUCTIONS:
            raise ValueError(f"overlap must be one of {list(OVERLAP_REDUCTIONS)}, got {overlap!r}")
        self.N, self.D, self.n_src, self.K, self.mask_act = N, D, n_src, K, mask_act
        self.overlap, self.front = overlap, front
        self.act = activations.get(mask_act)
        self.in_norm = norms.get(norm, N)
        self.bottleneck = nn.Conv1d(N, D, 1, bias=False)
        self.blocks = nn.Sequential(*blocks)
        self.first_out = nn.Sequential(nn.PReLU(), nn.Conv2d(D, n_src * D, 1))
        self.out_tanh = nn.Sequential(nn.Conv1d(D, D, 1), nn.Tanh())
        self.out_gate = nn.Sequential(nn.Conv1d(D, D, 1), nn.Sigmoid())
        self.mask_conv = nn.Conv1d(D, N, 1, bias=False)

    def forward(self, w: Tensor) -> Tensor:
        B, N, T = w.shape
        x = chunk(self.bottleneck(self.in_norm(w)), self.K, front=self.front)  # [B, D, K, S]
        x = self.first_out(self.blocks(x))  # [B, n_src * D, K, S], source-major channels
        x = x.reshape(B * self.n_src, self.D, *x.shape[-2:])
        x = overlap_add(x, T, front=self.front, reduce=self.overlap)  # [B * n_src, D, T]
        score = self.mask_conv(self.out_tanh(x) * self.out_gate(x)).reshape(B, self.n_src, N, T)
        return self.act(score)
