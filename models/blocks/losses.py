"""Time-domain training objective of the TasNet family and its successors: negative SI-SNR
with utterance-level permutation invariant training (uPIT), as in their papers.

Permutation convention as in :mod:`models.blocks.pit` and :mod:`sweep.scoring.metrics`:
``perm[b, k]`` is the output stream assigned to reference ``k``. The score matrix is laid out
like :func:`sweep.scoring.metrics.pairwise_si_snr`'s, references in rows, estimates in columns;
this one is the differentiable torch twin (with an ``eps`` that keeps gradients finite, where
the metric clamps instead), hence its own name.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .pit import permutations


def si_snr_matrix(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    """SI-SNR (dB) of every estimate against every reference, zero-mean, differentiable.

    Args:
        est: ``[B, S, T]`` estimates (samples).
        ref: ``[B, S, T]`` references.

    Returns:
        ``[B, S_ref, S_est]`` in dB: ``out[b, k, i]`` scores estimate ``i`` against reference ``k``.
    """
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    e, r = est.unsqueeze(1), ref.unsqueeze(2)  # [B, 1, S_est, T], [B, S_ref, 1, T]
    dot = (e * r).sum(-1, keepdim=True)
    target = dot / (r.pow(2).sum(-1, keepdim=True) + eps) * r
    noise = e - target
    return 10 * torch.log10(target.pow(2).sum(-1) / (noise.pow(2).sum(-1) + eps) + eps)


def pit_neg_si_snr(est: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    """uPIT negative SI-SNR: per utterance the best of the ``S!`` output orders, batch mean.

    Args:
        est: ``[B, S, T]``; ref: ``[B, S, T]``.

    Returns:
        ``(loss, perm)``: 0-dim loss (dB, to minimise) and ``perm [B, S]`` with
        ``perm[b, k] = i`` meaning output ``i`` is assigned to reference ``k``.
    """
    scores = si_snr_matrix(est, ref)  # [B, S_ref, S_est]
    perms = permutations(est.shape[1], est.device)  # [P, S]
    refs = torch.arange(est.shape[1], device=est.device)
    per_perm = scores[:, refs[None, :], perms].mean(-1)  # [B, P]
    best, which = per_perm.max(dim=1)
    return -best.mean(), perms[which]
