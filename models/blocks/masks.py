"""Spectral mask heads and the mask-domain training targets of Kolbaek et al. (2017).

Notation (paper): ``Y`` mixture STFT, ``X_s`` source ``s`` STFT, ``M_s`` estimated real
mask, ``θ`` phases. The network never sees a target mask: the loss compares the *masked
mixture magnitude* ``M_s ⊙ |Y|`` with a magnitude target, which avoids dividing by ``|Y|``
(ill-posed in silent bins) and weights errors by energy.

=======  ===================================  =============================================
type     target ``T_s``                        loss per utterance
=======  ===================================  =============================================
AM       ``|X_s|``                             ``Σ_s ||M_s ⊙ |Y| − |X_s| ||²``
PSM      ``|X_s| cos(θ_Y − θ_s)``              ``Σ_s ||M_s ⊙ |Y| − |X_s| cos(θ_Y − θ_s)||²``
NPSM     ``max(0, |X_s| cos(θ_Y − θ_s))``      same, with the clipped target
=======  ===================================  =============================================

(the squared norms are normalised by the number of T-F bins and speakers in
:mod:`models.blocks.pit`). The PSM target is the projection of ``X_s`` on the mixture
phase, i.e. the best magnitude one can hope for when resynthesising with the mixture phase;
the targets of all speakers sum to ``|Y|`` in every bin.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import activations

MASK_TYPES = ("AM", "PSM", "NPSM")


class SpectralMaskHead(nn.Module):
    """Per-frame fully connected output layer: separator features -> one T-F mask per speaker.

    Args:
        in_features: separator output size per frame (e.g. ``2 * hidden`` for a BLSTM).
        n_bins: frequency bins ``F``.
        n_src: speakers ``S``.
        activation: a name of :data:`models.blocks.activations.ACTIVATIONS` (``softmax`` is
            taken across the speakers).

    Shapes:
        ``[B, N, in_features] -> [B, S, F, N]`` (real masks).
    """

    def __init__(self, in_features: int, n_bins: int, n_src: int, activation: str) -> None:
        super().__init__()
        self.n_bins, self.n_src, self.activation = n_bins, n_src, activation
        self.act = activations.get(activation)
        self.linear = nn.Linear(in_features, n_src * n_bins)

    def forward(self, h: Tensor) -> Tensor:
        batch, frames, _ = h.shape
        logits = self.linear(h).view(batch, frames, self.n_src, self.n_bins)
        return self.act(logits.permute(0, 2, 3, 1))

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, n_bins={self.n_bins}, activation={self.activation!r}"


def mask_target(mask_type: str, mix_spec: Tensor, src_spec: Tensor) -> Tensor:
    """Magnitude target that ``M_s ⊙ |Y|`` is trained to match.

    Args:
        mask_type: ``'AM'``, ``'PSM'`` or ``'NPSM'`` (see the module docstring).
        mix_spec: ``[B, F, N]`` complex mixture STFT ``Y``.
        src_spec: ``[B, S, F, N]`` complex source STFTs ``X_s``.

    Returns:
        ``[B, S, F, N]`` real target, in the STFT's linear magnitude units.
    """
    magnitude = src_spec.abs()
    if mask_type == "AM":
        return magnitude
    if mask_type not in ("PSM", "NPSM"):
        raise ValueError(f"unknown mask type {mask_type!r}; known: {list(MASK_TYPES)}")
    # angle(0) is 0 in torch, so silent mixture bins get a finite (if arbitrary) phase.
    psm = magnitude * torch.cos(mix_spec.angle().unsqueeze(1) - src_spec.angle())
    return psm.clamp_min(0.0) if mask_type == "NPSM" else psm
