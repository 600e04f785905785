"""Training objectives of the embedding (clustering) separators: deep clustering, deep
attractor and chimera losses, and the T-F labels they are computed from.

Notation: ``P = F · N`` time-frequency bins of one utterance, ``V`` ``[P, D]`` the network's
embeddings, ``Y`` ``[P, S]`` the ideal binary assignment (one-hot: which source dominates the
bin), ``w`` ``[P]`` the bin weights (1 for active bins, 0 for silent ones).

* Deep clustering (Hershey et al., ICASSP 2016): ``|| Vw Vwᵀ − Yw Ywᵀ ||_F²`` with
  ``Vw = diag(√w) V``. Computed with the low-rank identity
  ``||VwᵀVw||² − 2 ||VwᵀYw||² + ||YwᵀYw||²``, never forming the ``P x P`` affinity matrices
  (``P`` is ~ 30,000 for a 4 s utterance).
* Deep attractor (Chen et al., ICASSP 2017): squared error between the masked mixture
  magnitude and each source's magnitude.
* Chimera++ (Wang et al., ICASSP 2018): ``α · DC + (1 − α) · tPSA``, the mask-inference head's
  truncated phase-sensitive L1 error under utterance-level PIT.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .pit import permutations


def active_bins(mix_mag: Tensor, silence_db: float) -> Tensor:
    """The bins that take part in clustering: within ``silence_db`` dB of the loudest bin.

    Deep clustering papers drop bins more than 40 dB below the utterance maximum: they carry
    no speaker and would otherwise form a cluster of their own.

    Args:
        mix_mag: ``[B, F, N]`` mixture magnitude (linear units).
        silence_db: threshold below each utterance's maximum, in dB.

    Returns:
        ``[B, F, N]`` float weights, 1 for active bins and 0 for silent ones (all 0 for a
        digitally silent mixture).
    """
    peak = mix_mag.flatten(1).amax(dim=1).view(-1, 1, 1)
    return (mix_mag > peak * 10.0 ** (-silence_db / 20.0)).to(mix_mag.dtype)


def ideal_binary_mask(src_mag: Tensor) -> Tensor:
    """One-hot dominant-source labels: ``[B, S, F, N]`` magnitudes -> ``[B, S, F, N]`` in {0, 1}.

    Ties go to the lowest source index, so every bin has exactly one 1.
    """
    labels = src_mag.argmax(dim=1)
    return torch.nn.functional.one_hot(labels, src_mag.shape[1]).movedim(-1, 1).to(src_mag.dtype)


def affinity_loss(emb: Tensor, assign: Tensor, weights: Tensor) -> Tensor:
    """Deep clustering loss ``||Vw Vwᵀ − Yw Ywᵀ||_F²`` per utterance, divided by ``(Σ w)²``.

    The division makes the value the mean squared affinity error per pair of active bins
    (between 0 and 4 for unit-norm embeddings), independent of the utterance length.

    Args:
        emb: ``[B, P, D]`` embeddings ``V``.
        assign: ``[B, P, S]`` ideal binary assignment ``Y``.
        weights: ``[B, P]`` bin weights ``w``.

    Returns:
        0-dim batch mean.
    """
    root = weights.clamp_min(0).sqrt().unsqueeze(-1)
    v, y = emb * root, assign * root
    vv = torch.einsum("bpd,bpe->bde", v, v).pow(2).sum(dim=(1, 2))
    vy = torch.einsum("bpd,bps->bds", v, y).pow(2).sum(dim=(1, 2))
    yy = torch.einsum("bps,bpt->bst", y, y).pow(2).sum(dim=(1, 2))
    norm = weights.sum(dim=1).pow(2).clamp_min(1.0)
    return ((vv - 2 * vy + yy) / norm).mean()


def magnitude_mse(est: Tensor, target: Tensor) -> Tensor:
    """DANet's reconstruction loss: ``mean_{b,s,f,n} (M_s ⊙ |Y| − |X_s|)²``, sources in order.

    Args:
        est, target: ``[B, S, F, N]`` magnitudes (linear STFT units).
    """
    if est.shape != target.shape:
        raise ValueError(f"est and target must have one shape, got {tuple(est.shape)} and {tuple(target.shape)}")
    return (est - target).pow(2).mean()


def pit_l1(est: Tensor, target: Tensor) -> Tensor:
    """Utterance-level PIT L1 error: ``mean_b min_π mean_{s,...} |est_π(s) − target_s|``.

    Args:
        est, target: ``[B, S, ...]`` (magnitudes ``[B, S, F, N]`` or waveforms ``[B, S, T]``).
    """
    n_src = est.shape[1]
    pair = (est.unsqueeze(1) - target.unsqueeze(2)).abs().flatten(3).mean(-1)  # [B, S_ref, S_est]
    perms = permutations(n_src, est.device)
    refs = torch.arange(n_src, device=est.device)
    return pair[:, refs[None, :], perms].mean(-1).amin(dim=1).mean()


def truncated_psa(mix_spec: Tensor, src_spec: Tensor, gamma: float = 1.0) -> Tensor:
    """Chimera++'s tPSA target ``min(γ|Y|, max(0, |X_s| cos(θ_Y − θ_s)))``.

    Args:
        mix_spec: ``[B, F, N]`` complex; src_spec: ``[B, S, F, N]`` complex.

    Returns:
        ``[B, S, F, N]`` real, linear magnitude units.
    """
    mix_mag = mix_spec.abs().unsqueeze(1)
    psa = src_spec.abs() * torch.cos(mix_spec.angle().unsqueeze(1) - src_spec.angle())
    return torch.minimum(psa.clamp_min(0.0), gamma * mix_mag)


def chimera_loss(emb: Tensor, assign: Tensor, weights: Tensor, est_mag: Tensor, tpsa: Tensor,
                 alpha: float) -> Tensor:
    """``α · affinity_loss + (1 − α) · PIT-L1(M ⊙ |Y|, tPSA)``.

    Args:
        emb, assign, weights: as in :func:`affinity_loss` (the deep-clustering head).
        est_mag: ``[B, S, F, N]`` mask-inference estimate ``M_s ⊙ |Y|``.
        tpsa: ``[B, S, F, N]`` :func:`truncated_psa` target.
        alpha: weight of the deep-clustering term, in ``[0, 1]``.
    """
    return alpha * affinity_loss(emb, assign, weights) + (1.0 - alpha) * pit_l1(est_mag, tpsa)
