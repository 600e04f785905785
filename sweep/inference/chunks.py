"""A long mixture separated in overlapping chunks: memory bounded by one chunk, no seams.

All lengths are samples at the model's rate. A :class:`ChunkPlan` has a chunk length ``C`` and
an overlap ``O`` (``2 O <= C``); the hop ``H = C - O`` is a multiple of :data:`GRID` samples, so
every chunk starts on the unchunked input's frame grid (every built-in family's frame hop, 8, 20
or 64 samples, divides 320). Chunk ``k`` covers ``[k H, k H + C)``; the last one ends at ``T`` and
is between ``O + 1`` and ``C`` samples long. Consecutive chunks share exactly ``O`` samples.

**Speaker order.** A separator's output order is arbitrary and may differ from chunk to chunk
(the permutation ambiguity). Before blending, chunk ``k + 1``'s outputs are reordered to match
chunk ``k``'s on their ``O`` shared samples: the assignment with the largest summed cosine
similarity (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).

**Seams.** On the shared samples, the first ``M = O // 4`` come from chunk ``k`` alone, the next
``O - 2 M`` cross-fade from chunk ``k`` to chunk ``k + 1`` (raised cosine, weights summing to 1)
and the last ``M`` come from chunk ``k + 1`` alone. No output sample is taken from within ``M``
samples of a chunk's cut edge, so a model whose output at ``t`` depends only on inputs within
``M`` samples of ``t`` gives the same output chunked as unchunked, up to float rounding
(``tests/test_separate.py`` checks this on a 60 s file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

GRID = 320  # samples; the hop between chunks is a multiple of it


@dataclass(frozen=True)
class ChunkPlan:
    """Chunk length and overlap in samples at the model's rate (see the module docstring)."""

    chunk: int  # C, samples
    overlap: int  # O, samples

    def __post_init__(self) -> None:
        if self.overlap < 1 or 2 * self.overlap > self.chunk:
            raise ValueError(f"the overlap ({self.overlap} samples) must be positive and at most half the chunk "
                             f"({self.chunk})")

    @classmethod
    def from_seconds(cls, chunk_s: float, overlap_s: float, rate: int) -> ChunkPlan:
        """``chunk_s`` and ``overlap_s`` in seconds at ``rate`` Hz; the hop is rounded to a multiple
        of :data:`GRID` samples (at least one), the overlap to whole samples.

        Raises:
            ValueError: an overlap under one sample or over half the chunk (the speaker order
                is matched on the overlap, so there must be one).
        """
        overlap = round(overlap_s * rate) if math.isfinite(overlap_s) else 0
        if not math.isfinite(chunk_s) or overlap < 1 or 2 * overlap_s > chunk_s:
            raise ValueError(f"--overlap-s {overlap_s:g} must be at least one sample and at most half of "
                             f"--chunk-s {chunk_s:g}")
        hop = max(GRID, round((chunk_s - overlap_s) * rate / GRID) * GRID)
        return cls(hop + overlap, min(overlap, hop))

    @property
    def hop(self) -> int:
        return self.chunk - self.overlap

    @property
    def margin(self) -> int:
        """``M``: shared samples at each end of an overlap that come from one chunk only."""
        return self.overlap // 4

    def starts(self, length: int) -> list[int]:
        """First samples of the chunks of a ``length``-sample input (``[0]`` if it fits one)."""
        if length <= self.chunk:
            return [0]
        return [k * self.hop for k in range(math.ceil((length - self.chunk) / self.hop) + 1)]


def fade_in(overlap: int, margin: int) -> Tensor:
    """``[O]`` weight of the later chunk on an overlap: ``margin`` zeros, a raised-cosine rise,
    ``margin`` ones. The earlier chunk's weight is one minus it."""
    weight = torch.zeros(overlap)
    fade = overlap - 2 * margin
    t = (torch.arange(fade, dtype=torch.float64) + 0.5) / fade
    weight[margin:margin + fade] = torch.sin(0.5 * math.pi * t).pow(2).float()
    weight[margin + fade:] = 1.0
    return weight


def align(previous: Tensor, current: Tensor) -> list[int]:
    """The order of ``current``'s sources that best matches ``previous``.

    Args:
        previous, current: ``[S, O]`` two chunks' outputs on the samples they share.

    Returns:
        ``perm`` such that ``current[perm]`` puts each source beside its match in ``previous``
        (the assignment with the largest summed cosine similarity).
    """
    from scipy.optimize import linear_sum_assignment

    a = previous.double() / (previous.double().norm(dim=-1, keepdim=True) + 1e-12)
    b = current.double() / (current.double().norm(dim=-1, keepdim=True) + 1e-12)
    _, cols = linear_sum_assignment((a @ b.T).numpy(), maximize=True)
    return [int(c) for c in cols]


def _separate(model: torch.nn.Module, x: Tensor, device: torch.device | str) -> Tensor:
    """``[T]`` -> ``[S, T]`` float32 on the CPU: one forward pass."""
    with torch.inference_mode():
        return model(x[None].to(device))[0].float().cpu()


def separate_chunked(model: torch.nn.Module, mixture: Tensor, plan: ChunkPlan | None,
                     device: torch.device | str = "cpu") -> Tensor:
    """Separate a long mixture chunk by chunk (``plan`` None: in one pass).

    Args:
        model: a separator in eval mode on ``device``, ``[B, T] -> [B, S, T]``.
        mixture: ``[T]`` float waveform at the model's rate (on the CPU).
        plan: chunk length and overlap; see the module docstring.

    Returns:
        ``[S, T]`` float32 on the CPU, in the first chunk's speaker order.
    """
    length = mixture.shape[-1]
    if plan is None or length <= plan.chunk:
        return _separate(model, mixture, device)
    out: Tensor | None = None
    weight = fade_in(plan.overlap, plan.margin)
    for start in plan.starts(length):
        end = min(start + plan.chunk, length)
        y = _separate(model, mixture[start:end], device)
        if out is None:
            out = torch.empty(y.shape[0], length)
            out[:, :end] = y
            continue
        shared = slice(start, start + plan.overlap)
        y = y[align(out[:, shared], y[:, :plan.overlap])]
        out[:, shared] = (1 - weight) * out[:, shared] + weight * y[:, :plan.overlap]
        out[:, start + plan.overlap:end] = y[:, plan.overlap:]
    return out
