"""Time-domain training objective of the TasNet family and its successors: negative SI-SNR
with utterance-level permutation invariant training (uPIT), as in their papers."""

from __future__ import annotations

import torch
from torch import Tensor

from models.blocks.pit import permutations


def pairwise_si_snr(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    """SI-SNR (dB) of every estimate against every reference, zero-mean.

    Args:
        est: ``[B, S, T]`` estimates (samples).
        ref: ``[B, S, T]`` references.

    Returns:
        ``[B, S_est, S_ref]`` in dB.
    """
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    e, r = est.unsqueeze(2), ref.unsqueeze(1)  # [B, S, 1, T], [B, 1, S, T]
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
        ``perm[b, i] = j`` meaning output ``i`` is assigned to reference ``j``.
    """
    scores = pairwise_si_snr(est, ref)  # [B, S, S]
    perms = permutations(est.shape[1], est.device)  # [P, S]
    idx = torch.arange(est.shape[1], device=est.device)
    per_perm = scores[:, idx[None, :], perms].mean(-1)  # [B, P]
    best, which = per_perm.max(dim=1)
    return -best.mean(), perms[which]
