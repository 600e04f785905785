"""Permutation invariant training: frame-level PIT (Yu et al.) and utterance-level uPIT.

Permutation convention, the same as :mod:`sweep.scoring.metrics` and
:func:`models.blocks.losses.pit_neg_si_snr`: ``perm[..., k] = i`` means *output stream* ``i``
is assigned to *reference* ``k``, so indexing the outputs with ``perm`` puts them in reference
order (:func:`apply_permutation` is that gather).

Both losses are the squared magnitude error of Kolbaek et al. (2017),
normalised by the number of T-F bins and speakers ``F · N · S`` per utterance, then
averaged over the batch. The ``S!`` permutations are enumerated, fine for ``S <= 3``
(for larger ``S`` a Hungarian assignment would be needed).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=16)
def _permutations_on(n_src: int, device: torch.device) -> Tensor:
    # Cached per device: the loss runs every training step, the table never changes.
    return torch.tensor(list(itertools.permutations(range(n_src))), dtype=torch.long, device=device)


def permutations(n_src: int, device: torch.device | str | None = None) -> Tensor:
    """All ``S!`` permutations as a ``[P, S]`` long tensor, identity first (do not modify it)."""
    return _permutations_on(n_src, torch.device(device or "cpu"))


def pairwise_mse(est: Tensor, target: Tensor) -> Tensor:
    """Frame-wise squared error between every output and every reference.

    Args:
        est: ``[B, S, F, N]`` estimates (e.g. masked mixture magnitudes ``M_s ⊙ |Y|``).
        target: ``[B, S, F, N]`` references (e.g. :func:`~models.blocks.masks.mask_target`).

    Returns:
        ``[B, S, S, N]``: ``out[b, i, j, n] = mean_f (est[b, i, f, n] − target[b, j, f, n])²``.
    """
    if est.shape != target.shape or est.dim() != 4:
        raise ValueError(f"est and target must both be [B, S, F, N], got {tuple(est.shape)} and {tuple(target.shape)}")
    return (est.unsqueeze(2) - target.unsqueeze(1)).pow(2).mean(dim=3)


def permutation_costs(pairwise: Tensor) -> tuple[Tensor, Tensor]:
    """``[B, S_out, S_ref, N]`` -> (``[B, P, N]`` per-frame error summed over speakers, ``[P, S]`` perms)."""
    n_src = pairwise.shape[1]
    perms = permutations(n_src, pairwise.device)
    references = torch.arange(n_src, device=pairwise.device).expand_as(perms)
    # pairwise[:, perms, references] is [B, P, S, N]: error of output perm[p, k] against reference k.
    return pairwise[:, perms, references].sum(dim=2), perms


def utterance_pit_loss(est: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """uPIT: one permutation per utterance, the one minimising the whole utterance's error.

    Args:
        est, target: ``[B, S, F, N]``.

    Returns:
        ``(loss, perm)``: 0-dim loss (mean over the batch of ``min_π Σ_{s,f,n} err / (F N S)``)
        and ``perm`` ``[B, S]``, the chosen permutation per utterance (``perm[b, k]``: the
        output assigned to reference ``k``).
    """
    costs, perms = permutation_costs(pairwise_mse(est, target))  # [B, P, N]
    n_src, n_frames = est.shape[1], est.shape[-1]
    best, index = costs.sum(dim=-1).min(dim=1)  # [B]
    return best.mean() / (n_frames * n_src), perms[index]


def frame_pit_loss(est: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Frame-level PIT: the best permutation is chosen independently in every frame.

    Its loss is never above uPIT's; the price is that output streams may swap speakers
    from frame to frame (the "default assignment" problem uPIT removes).

    Args:
        est, target: ``[B, S, F, N]``.

    Returns:
        ``(loss, perm)``: 0-dim loss (mean over the batch of ``Σ_n min_π Σ_{s,f} err / (F N S)``)
        and ``perm`` ``[B, N, S]``, the chosen permutation per frame (``perm[b, n, k]``: the
        output assigned to reference ``k`` in frame ``n``).
    """
    costs, perms = permutation_costs(pairwise_mse(est, target))  # [B, P, N]
    n_src, n_frames = est.shape[1], est.shape[-1]
    best, index = costs.min(dim=1)  # [B, N]
    return best.sum(dim=-1).mean() / (n_frames * n_src), perms[index]


def apply_permutation(x: Tensor, perm: Tensor) -> Tensor:
    """Reorder output streams into reference order.

    Args:
        x: ``[B, S, ...]`` with frames last when ``perm`` is per frame (``[B, S, F, N]``).
        perm: ``[B, S]`` (one per utterance) or ``[B, N, S]`` (one per frame), as returned
            by :func:`utterance_pit_loss` / :func:`frame_pit_loss`.

    Returns:
        Same shape as ``x``; ``out[b, k] = x[b, perm[b, k]]`` (per frame for ``[B, N, S]``).
    """
    if perm.dim() == 2:
        index = perm.view(*perm.shape, *([1] * (x.dim() - 2))).expand_as(x)
        return x.gather(1, index)
    if perm.dim() == 3:
        index = perm.transpose(1, 2)  # [B, S, N]
        index = index.view(index.shape[0], index.shape[1], *([1] * (x.dim() - 3)), index.shape[2])
        return x.gather(1, index.expand_as(x))
    raise ValueError(f"perm must be [B, S] or [B, N, S], got shape {tuple(perm.shape)}")
