"""Phase from magnitudes: the law of cosines and the sign of the phase difference.

Wang, Tan, Wang, "Deep learning based phase reconstruction for speaker separation: a
trigonometric perspective", ICASSP 2019.

In one T-F bin the mixture is ``Y = X_s + R_s`` (``R_s``: every other source). Knowing the three
magnitudes fixes the triangle up to a reflection about the mixture's direction:

    cos(θ_s − θ_Y) = (|Y|² + |X_s|² − |R_s|²) / (2 |Y| |X_s|)              (law of cosines)
    sin(θ_s − θ_Y) = ± sqrt(1 − cos²)

so the phase of ``X_s`` is one of two candidates, and a network only has to predict the sign of
``sin(θ_s − θ_Y)``. For two sources ``R_s`` is the other source. For more, ``|R_s|`` is not one of
the estimated magnitudes; we take ``|R_s|² ≈ Σ_{j≠s} |X_j|²`` (the other sources' powers add, as
they do on average for independent phases), which is exact for two sources. That choice is
ours: the paper's 3-speaker recipe is not reproduced here.
"""

from __future__ import annotations

import torch
from torch import Tensor


def phase_difference_cosine(mix_mag: Tensor, src_mag: Tensor, eps: float = 1e-8) -> Tensor:
    """``cos(θ_s − θ_Y)`` from magnitudes alone (law of cosines), clipped to ``[-1, 1]``.

    Args:
        mix_mag: ``[B, F, N]`` mixture magnitude ``|Y|`` (linear STFT units).
        src_mag: ``[B, S, F, N]`` source magnitudes ``|X_s|`` (estimated or true).
        eps: keeps silent bins finite (their cosine is then ~0 or clipped).

    Returns:
        ``[B, S, F, N]``.
    """
    mix = mix_mag.unsqueeze(1)
    rest_sq = src_mag.pow(2).sum(dim=1, keepdim=True) - src_mag.pow(2)
    cos = (mix.pow(2) + src_mag.pow(2) - rest_sq) / (2 * mix * src_mag + eps)
    return cos.clamp(-1.0, 1.0)


def reconstruct_sources(mix_spec: Tensor, src_mag: Tensor, sign: Tensor, eps: float = 1e-8) -> Tensor:
    """Complex source spectra from magnitudes, the mixture phase and the sine's sign.

    ``X_s = |X_s| e^{jθ_Y} (cos Δ_s + j · sign_s · sqrt(1 − cos² Δ_s))``.

    Args:
        mix_spec: ``[B, F, N]`` complex mixture STFT.
        src_mag: ``[B, S, F, N]`` magnitudes.
        sign: ``[B, S, F, N]`` in ``[-1, 1]``: ``±1`` for a hard decision, or ``2p − 1`` (the
            expected sign under the predicted probability ``p``), which shrinks an uncertain
            bin towards its projection on the mixture phase.
        eps: floor of the mixture magnitude and of ``1 − cos²`` (the square root's gradient
            is infinite at 0).

    Returns:
        ``[B, S, F, N]`` complex.
    """
    mix_mag = mix_spec.abs()
    cos = phase_difference_cosine(mix_mag, src_mag, eps)
    sin = sign * (1.0 - cos.pow(2)).clamp_min(eps).sqrt()
    unit = (mix_spec / (mix_mag + eps)).unsqueeze(1)  # e^{jθ_Y}; 0 in silent bins
    return src_mag * unit * torch.complex(cos, sin)


def sign_targets(mix_spec: Tensor, src_spec: Tensor) -> tuple[Tensor, Tensor]:
    """The sign network's labels and the weight of each bin.

    Args:
        mix_spec: ``[B, F, N]`` complex ``Y``; src_spec: ``[B, S, F, N]`` complex ``X_s``.

    Returns:
        ``(label, weight)``, both ``[B, S, F, N]``: ``label = 1`` where ``sin(θ_s − θ_Y) > 0``
        (else 0), and ``weight = |X_s| |sin(θ_s − θ_Y)|``, half the distance between the two
        phase candidates (a wrong sign there costs ``2 · weight`` of magnitude error; where
        both candidates coincide the label does not matter).
    """
    # Im(X_s conj(Y)) = |X_s| |Y| sin(θ_s − θ_Y): the sign without computing an angle.
    cross = (src_spec * mix_spec.conj().unsqueeze(1)).imag
    weight = cross.abs() / (mix_spec.abs().unsqueeze(1) + 1e-8)
    return (cross > 0).to(weight.dtype), weight


def weighted_sign_bce(logits: Tensor, label: Tensor, weight: Tensor, eps: float = 1e-8) -> Tensor:
    """Binary cross-entropy of the sign logits, weighted per bin and normalised by the weights.

    Args:
        logits, label, weight: ``[B, S, F, N]`` (see :func:`sign_targets`).

    Returns:
        0-dim: ``Σ w · BCE / Σ w`` per utterance, averaged over the batch (nats).
    """
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, label, reduction="none")
    dims = tuple(range(1, logits.dim()))
    return ((weight * bce).sum(dims) / (weight.sum(dims) + eps)).mean()
