"""SignPredictionNet: Chimera++ magnitudes, phases from the law of cosines and a sign network.

Wang, Tan, Wang, "Deep learning based phase reconstruction for speaker separation: a
trigonometric perspective", ICASSP 2019.

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, N, F]
        --4 BLSTM (Chimera++)--> [B, N, 2H] --Linear + act--> M [B, S, F, N], |X̂_s| = M_s ⊙ |Y|
                                            \\-Linear, tanh, unit norm--> V [B, FN, D] (training only)
        --law of cosines(|Y|, |X̂_s|)--> |cos(θ_s − θ_Y)|
        --[log|Y|, log|X̂_s|] --3 BLSTM + Linear--> sign logits [B, S, F, N]
        --X̂_s = |X̂_s| e^{jθ_Y}(cos ± j sin)--> [B, S, F, N] --iSTFT--> [B, S, T]

**Sizes.** The paper's magnitude network is Chimera++ (4 BLSTM layers of 600 units per
direction, a mask head and a 20-dimensional deep-clustering head: 32.87M on 129 bins) and its
published total is 55.2M. A sign network of 3 BLSTM layers of 600 units on the mixture's and the
estimated sources' log magnitudes (``F (1 + S) = 387`` inputs) and a linear ``S x F`` output adds
22.36M, 55.22M in all, the published number to the 0.1M it is printed with. The sign network's
depth and input are inferred from that total, not quoted.

**What we chose.** Deep clustering uses the classic affinity loss with a 40 dB silence mask
(:mod:`models.blocks.embedding_losses`; Chimera++ found a whitened k-means variant slightly
better). The mask-inference loss is the
utterance-level PIT squared error of ``M_s ⊙ |Y|`` against ``|X_s|`` (magnitude approximation:
the law of cosines needs the magnitudes themselves, not phase-sensitive projections), divided by
the mixture's mean power so that it is dimensionless like the other two terms. The sign network
is trained with a cross-entropy weighted by ``|X_s| |sin(θ_s − θ_Y)|`` (the error a wrong sign
makes; see :mod:`models.blocks.phase_sign`), under the permutation the magnitude loss chose. The
paper trains the two networks one after the other; here one optimiser trains both at once and
the sign network sees the magnitudes *detached*, so its loss never moves the magnitude network:
the same two objectives, run side by side. ``sign_mode='soft'`` uses the expected sign
``2p − 1`` instead of the hard decision (our addition: an unsure bin falls back towards the
mixture phase). The MISI / group-delay alternatives of the paper are not part of this family.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Separator
from .blocks.activations import ACTIVATIONS
from .blocks.clustering import EmbeddingHead
from .blocks.embedding_losses import active_bins, affinity_loss, ideal_binary_mask
from .blocks.masks import SpectralMaskHead
from .blocks.phase_sign import reconstruct_sources, sign_targets, weighted_sign_bce
from .blocks.pit import apply_permutation, utterance_pit_loss
from .blocks.rnn import RNNStack
from .blocks.stft import normalised_log_magnitude
from .registry import Family, HParam, register
from .upit import upit_stft

SIGN_MODES = ("hard", "soft")


class SignPredictionNet(Separator):
    """Chimera++ magnitude network plus a phase-difference sign network.

    Args:
        n_src: speakers ``S``.
        sample_rate: Hz; STFT 32 ms / 8 ms sqrt-Hann (256 / 64 at 8 kHz, ``F = 129``).
        num_layers, hidden_size: the magnitude BLSTM (paper: 4 x 600 per direction).
        embedding_dim: deep-clustering embedding size ``D`` (paper: 20).
        sign_layers, sign_hidden: the sign BLSTM (inferred: 3 x 600).
        activation: mask activation (a name of :data:`~models.blocks.activations.ACTIVATIONS`).
        dc_weight, sign_weight: weights of the deep-clustering and sign losses beside the
            mask-inference loss.
        sign_mode: ``'hard'`` (the paper: sign of the logit) or ``'soft'`` (expected sign).
        dropout: between and after recurrent layers.
        eps: floor inside logs and divisions, linear STFT magnitude units.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, num_layers: int = 4, hidden_size: int = 600,
                 embedding_dim: int = 20, sign_layers: int = 3, sign_hidden: int = 600, activation: str = "relu",
                 dc_weight: float = 1.0, sign_weight: float = 1.0, sign_mode: str = "hard", dropout: float = 0.0,
                 eps: float = 1e-8) -> None:
        super().__init__(n_src, sample_rate)
        if sign_mode not in SIGN_MODES:
            raise ValueError(f"sign_mode must be one of {list(SIGN_MODES)}, got {sign_mode!r}")
        self.dc_weight, self.sign_weight, self.sign_mode, self.eps = dc_weight, sign_weight, sign_mode, eps
        self.encoder, self.decoder, _ = upit_stft(sample_rate)
        n_bins = self.encoder.n_bins
        self.separator = RNNStack(n_bins, hidden_size, num_layers, True, dropout)
        self.mask_head = SpectralMaskHead(self.separator.output_size, n_bins, n_src, activation)
        self.embedding_head = EmbeddingHead(self.separator.output_size, n_bins, embedding_dim, unit_norm=True)
        self.sign_rnn = RNNStack(n_bins * (1 + n_src), sign_hidden, sign_layers, True, dropout)
        self.sign_head = torch.nn.Linear(self.sign_rnn.output_size, n_src * n_bins)

    def _log_features(self, mix_spec: Tensor, src_mag: Tensor | None = None) -> Tensor:
        """Mixture log magnitude normalised per utterance, and (for the sign network) each
        estimated source's log magnitude shifted and scaled by the *mixture's* statistics, so
        the sources keep their level relative to the mixture. ``-> [B, N, F (1 + S)]`` (or
        ``[B, N, F]`` without ``src_mag``)."""
        mix_feat = normalised_log_magnitude(mix_spec, self.eps)  # [B, F, N]
        if src_mag is None:
            return mix_feat.transpose(1, 2)
        log_mix = torch.log(mix_spec.abs() + self.eps)
        mean = log_mix.mean(dim=(1, 2), keepdim=True).unsqueeze(1)
        std = log_mix.std(dim=(1, 2), keepdim=True).unsqueeze(1) + 1e-5
        src_feat = (torch.log(src_mag + self.eps) - mean) / std  # [B, S, F, N]
        return torch.cat([mix_feat.unsqueeze(1), src_feat], dim=1).flatten(1, 2).transpose(1, 2)

    def sign_logits(self, mix_spec: Tensor, src_mag: Tensor) -> Tensor:
        """``[B, F, N]`` complex, ``[B, S, F, N]`` magnitudes -> ``[B, S, F, N]`` logits of
        ``P(sin(θ_s − θ_Y) > 0)``."""
        batch, n_bins, frames = mix_spec.shape
        h = self.sign_rnn(self._log_features(mix_spec, src_mag))  # [B, N, 2H]
        return self.sign_head(h).view(batch, frames, self.n_src, n_bins).permute(0, 2, 3, 1)

    def magnitudes(self, mixture: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``[B, T]`` -> (``|X̂_s|`` ``[B, S, F, N]``, BLSTM output ``[B, N, 2H]``, ``Y`` ``[B, F, N]``)."""
        self._check_mixture(mixture)
        mix_spec = self.encoder(mixture)
        h = self.separator(self._log_features(mix_spec))
        return self.mask_head(h) * mix_spec.abs().unsqueeze(1), h, mix_spec

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]``: magnitudes, sign decisions, reconstructed phases, iSTFT."""
        src_mag, _, mix_spec = self.magnitudes(mixture)  # [B, S, F, N]
        prob = torch.sigmoid(self.sign_logits(mix_spec, src_mag))
        sign = 2 * prob - 1 if self.sign_mode == "soft" else torch.where(prob > 0.5, 1.0, -1.0).to(prob.dtype)
        spec = reconstruct_sources(mix_spec, src_mag, sign, self.eps)  # [B, S, F, N] complex
        return self.decoder(spec, mixture.shape[-1])

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """Mask inference (uPIT, power-normalised) + ``dc_weight`` · deep clustering +
        ``sign_weight`` · weighted sign cross-entropy (detached magnitudes, magnitude PIT order)."""
        self._check_sources(mixture, sources)
        src_mag, h, mix_spec = self.magnitudes(mixture)
        src_spec = self.encoder(sources)  # [B, S, F, N]
        power = mix_spec.abs().pow(2).mean(dim=(1, 2)).view(-1, 1, 1, 1) + self.eps
        mi_loss, perm = utterance_pit_loss(src_mag / power.sqrt(), src_spec.abs() / power.sqrt())
        embeddings = self.embedding_head(h).flatten(1, 2)  # [B, F N, D]
        assignment = ideal_binary_mask(src_spec.abs()).flatten(2).transpose(1, 2)  # [B, F N, S]
        dc_loss = affinity_loss(embeddings, assignment, active_bins(mix_spec.abs(), 40.0).flatten(1))
        logits = apply_permutation(self.sign_logits(mix_spec, src_mag.detach()), perm)
        label, weight = sign_targets(mix_spec, src_spec)
        sign_loss = weighted_sign_bce(logits, label, weight)
        return mi_loss + self.dc_weight * dc_loss + self.sign_weight * sign_loss

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, sample_rate={self.sample_rate}, sign_mode={self.sign_mode!r}"


FAMILY = register(
    Family(
        name="signprediction",
        description=(
            "SignPredictionNet (Wang, Tan, Wang, ICASSP 2019): a Chimera++ BLSTM estimates the "
            "source magnitudes; the law of cosines turns them and the mixture into |phase "
            "difference| per bin, and a second BLSTM predicts the sign of sin(phase difference), "
            "so each source's phase is reconstructed instead of borrowed from the mixture."
        ),
        blocks={
            "encoder": "STFT, 32 ms sqrt-Hann window, 8 ms hop; log-magnitude, per-utterance normalised",
            "separator": "Chimera++ BLSTM stack (mask + deep-clustering heads); sign BLSTM on mixture and "
                         "estimated log magnitudes",
            "mask head": "linear to S x F magnitude masks; law of cosines for |cos|, sigmoid sign of the sine",
            "decoder": "magnitudes with reconstructed phases, inverse STFT",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("num_layers", "int", 4, low=1, high=6, doc="magnitude BLSTM layers"),
                HParam("hidden_size", "int", 600, low=16, high=1024, log=True,
                       doc="magnitude BLSTM units per direction"),
                HParam("embedding_dim", "int", 20, low=2, high=64, doc="deep-clustering embedding dimension"),
                HParam("sign_layers", "int", 3, low=1, high=6, doc="sign BLSTM layers"),
                HParam("sign_hidden", "int", 600, low=16, high=1024, log=True, doc="sign BLSTM units per direction"),
                HParam("activation", "choice", "relu", choices=ACTIVATIONS, doc="mask activation"),
                HParam("dc_weight", "float", 1.0, low=0.0, high=10.0, doc="deep-clustering loss weight"),
                HParam("sign_weight", "float", 1.0, low=0.0, high=10.0, doc="sign cross-entropy weight"),
                HParam("sign_mode", "choice", "hard", choices=SIGN_MODES, doc="hard sign (paper) or expected sign"),
                HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="dropout between and after BLSTM layers"),
            )
        },
        presets={
            # Chimera++ 4 x 600 + D = 20; sign network 3 x 600 (inferred from the 55.2M total).
            "paper": {"num_layers": 4, "hidden_size": 600, "embedding_dim": 20, "sign_layers": 3,
                      "sign_hidden": 600, "activation": "relu", "sign_mode": "hard"},
            "cpu": {"num_layers": 2, "hidden_size": 64, "embedding_dim": 10, "sign_layers": 1,
                    "sign_hidden": 48, "activation": "relu", "sign_mode": "hard"},
        },
        builder=SignPredictionNet,
        published_params={"paper": 55_200_000},
        published_systems=("SignPredictionNet",),
    )
)
