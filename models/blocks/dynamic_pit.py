"""Constrained uPIT (cuPIT): the uPIT error plus errors of the outputs' temporal dynamics.

Xu, Rao, Chng, Li, "Single channel speech separation with constrained utterance level
permutation invariant training using grid LSTM", ICASSP 2018.

uPIT picks one output-to-speaker assignment per utterance from the static squared error of
every frame, which says nothing about whether consecutive frames of one output belong together.
cuPIT adds the squared errors of the frame-to-frame differences (delta) and of the differences
of those (acceleration) of the same estimates and targets, under the *same* permutation, chosen
on the sum:

    L = min_π 1/(F N S) Σ_s [ ||E_s − T_π(s)||² + w_Δ ||ΔE_s − ΔT_π(s)||²
                                + w_ΔΔ ||Δ²E_s − Δ²T_π(s)||² ]

An output that jumps between speakers has large dynamic errors even where its static error is
small, so the constraint favours outputs that are continuous in time. Deltas here are plain
first differences along frames (``Δx_n = x_n − x_{n−1}``, ``Δx_0 = 0``); the paper's exact delta
formula (e.g. an HTK regression window) is not known to us and is our choice.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .pit import pairwise_mse, permutations


def frame_delta(x: Tensor) -> Tensor:
    """First difference along the last (frame) axis, zero in the first frame: ``[..., N] -> [..., N]``."""
    return torch.nn.functional.pad(x[..., 1:] - x[..., :-1], (1, 0))


def constrained_pit_loss(est: Tensor, target: Tensor, delta_weight: float = 1.0,
                         accel_weight: float = 1.0) -> tuple[Tensor, Tensor]:
    """cuPIT loss and the permutation it chose.

    Args:
        est, target: ``[B, S, F, N]`` (e.g. masked magnitudes and their PSM target).
        delta_weight, accel_weight: ``w_Δ`` and ``w_ΔΔ``; both 0 gives uPIT.

    Returns:
        ``(loss, perm)``: 0-dim loss (batch mean) and ``perm [B, S]`` (``perm[b, k]``: the
        output assigned to reference ``k``).
    """
    pair = pairwise_mse(est, target)  # [B, S_out, S_ref, N]
    d_est, d_tgt = frame_delta(est), frame_delta(target)
    if delta_weight:
        pair = pair + delta_weight * pairwise_mse(d_est, d_tgt)
    if accel_weight:
        pair = pair + accel_weight * pairwise_mse(frame_delta(d_est), frame_delta(d_tgt))
    n_src, n_frames = est.shape[1], est.shape[-1]
    perms = permutations(n_src, est.device)
    refs = torch.arange(n_src, device=est.device).expand_as(perms)
    costs = pair[:, perms, refs].sum(dim=(2, 3))  # [B, P]
    best, index = costs.min(dim=1)
    return best.mean() / (n_frames * n_src), perms[index]
