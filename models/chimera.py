"""Chimera++: one BLSTM trunk, a deep-clustering head and a mask-inference head; WA-MISI phase
reconstruction as an inference (and fine-tuning) option.

Wang, Le Roux, Hershey, "Alternative objective functions for deep clustering", ICASSP 2018
(Chimera++); Wang, Le Roux, Wang, Hershey, "End-to-end speech separation with unfolded
iterative phase reconstruction", Interspeech 2018 (WA-MISI-K).

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, N, F]
        --BLSTM stack--> [B, N, 2H] --+--DC head: Linear, tanh, unit norm--> V [B, F, N, D]
                                      +--MI head: Linear + activation--> M [B, S, F, N]
        masks: M (inference_head 'mi', default) or k-means on V (inference_head 'dc')
        --M ⊙ Y (mixture phase)--> [--phase_iterations x MISI--> ] --iSTFT--> [B, S, T]

MISI (multiple input spectrogram inversion): every iteration resynthesises the sources,
adds ``1/S`` of the mixture-minus-sum error to each so that they sum to the mixture, and takes
the phase of their STFT while keeping the estimated magnitudes ``|M_s ⊙ Y|``.
``phase_iterations: 0`` is Chimera++ with the mixture phase; ``5`` is WA-MISI-5.

Objectives: ``'chimera'``: ``α · DC + (1 − α) · tPSA`` (the deep-clustering affinity loss on
the active bins and the mask-inference head's truncated phase-sensitive L1 error under uPIT,
:func:`~models.blocks.embedding_losses.chimera_loss`; α = 0.975 in the paper); ``'wa'``: the
waveform-approximation L1 loss under uPIT on the output of the unfolded MISI iterations, the
end-to-end objective of WA-MISI-K. The paper fine-tunes a Chimera++ model with it; a sweep
trains with one objective, so WA-MISI-5 here trains with ``'wa'`` from scratch (or from a
``'chimera'`` checkpoint, where the harness resumes one).

Inference is ``'clustering'`` in the registry's sense because the model has the DC head and can
cluster; by default ``forward`` uses the MI head, as the paper's best rows do.

**Sizes (paper preset).** 4 BLSTM layers of 600 units per direction on 129 bins, D = 20, MI
head to 2 x 129: 32,866,038 parameters (32.9M in the Conv-TasNet paper's table; MISI adds none).
Mask activation: sigmoid by default (the truncated target lies in ``[0, |Y|]``); dropout 0.3
in the paper preset is our choice.
"""

from __future__ import annotations

from torch import Tensor

from .blocks.activations import ACTIVATIONS
from .blocks.embedding_losses import active_bins, chimera_loss, pit_l1, truncated_psa
from .blocks.masks import SpectralMaskHead
from .blocks.stft import ISTFTDecoder, STFTEncoder
from .dpcl import BLOCKS_ENCODER, EmbeddingSeparator, hparams
from .registry import Family, HParam, register
from .upit import upit_stft

INFERENCE_HEADS = ("mi", "dc")
OBJECTIVES = ("chimera", "wa")


def misi(est_spec: Tensor, mixture: Tensor, iterations: int, encoder: STFTEncoder, decoder: ISTFTDecoder) -> Tensor:
    """Multiple input spectrogram inversion with fixed magnitudes.

    Args:
        est_spec: ``[B, S, F, N]`` complex initial estimates (masked mixture, mixture phase).
        mixture: ``[B, T]`` waveform the sources must sum to.
        iterations: MISI iterations (0 returns the plain inverse STFT).
        encoder, decoder: the STFT pair ``est_spec`` lives on.

    Returns:
        ``[B, S, T]`` waveforms; differentiable (WA-MISI trains through it).
    """
    length, n_src = mixture.shape[-1], est_spec.shape[1]
    magnitude = est_spec.abs()
    spec = est_spec
    for _ in range(iterations):
        wav = decoder(spec, length)
        wav = wav + (mixture - wav.sum(dim=1)).unsqueeze(1) / n_src
        rebuilt = encoder(wav)
        # rebuilt / |rebuilt| is the phase; the floor keeps its gradient finite in silent bins.
        spec = magnitude * rebuilt / rebuilt.abs().clamp_min(1e-8)
    return decoder(spec, length)


class ChimeraPP(EmbeddingSeparator):
    """Chimera++ network: see the module docstring.

    Args:
        n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, silence_db,
            kmeans_iterations: :class:`~models.dpcl.EmbeddingSeparator` (unit-norm embeddings).
        activation: MI head mask activation (:data:`~models.blocks.activations.ACTIVATIONS`).
        alpha: weight of the DC loss in the chimera objective.
        inference_head: ``'mi'`` (masks from the MI head) or ``'dc'`` (k-means on the DC head).
        phase_iterations: MISI iterations at inference and in the ``'wa'`` objective.
        objective: ``'chimera'`` or ``'wa'``.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, num_layers: int = 4, hidden_size: int = 600,
                 dropout: float = 0.0, embedding_dim: int = 20, silence_db: float = 40.0,
                 kmeans_iterations: int = 20, activation: str = "sigmoid", alpha: float = 0.975,
                 inference_head: str = "mi", phase_iterations: int = 0, objective: str = "chimera") -> None:
        super().__init__(n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, True, silence_db,
                         kmeans_iterations)
        for name, value, known in (("inference_head", inference_head, INFERENCE_HEADS),
                                   ("objective", objective, OBJECTIVES)):
            if value not in known:
                raise ValueError(f"{name} must be one of {list(known)}, got {value!r}")
        self.alpha, self.inference_head, self.objective = alpha, inference_head, objective
        self.phase_iterations = phase_iterations
        self.mask_head = SpectralMaskHead(self.separator.output_size, self.encoder.n_bins, n_src, activation)

    def heads(self, mixture: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``[B, T]`` -> ``(V [B, P, D], weights [B, P], MI masks [B, S, F, N], Y [B, F, N])``."""
        self._check_mixture(mixture)
        mix_spec = self.encoder(mixture)
        h = self.trunk(mix_spec)
        emb = self.embedding(h).flatten(1, 2)
        weights = active_bins(mix_spec.abs(), self.silence_db).flatten(1)
        return emb, weights, self.mask_head(h), mix_spec

    def separate(self, masks: Tensor, mix_spec: Tensor, mixture: Tensor) -> Tensor:
        """Masks ``[B, S, F, N]`` -> waveforms ``[B, S, T]`` via ``phase_iterations`` of MISI."""
        return misi(masks * mix_spec.unsqueeze(1), mixture, self.phase_iterations, self.encoder, self.decoder)

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]``: MI masks (or DC + deterministic k-means), MISI, iSTFT."""
        emb, weights, masks, mix_spec = self.heads(mixture)
        if self.inference_head == "dc":
            masks = self.cluster_masks(emb, weights, mix_spec)
        return self.separate(masks, mix_spec, mixture)

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """The chimera objective, or the waveform-approximation L1 through MISI (``objective``)."""
        assign, src_spec = self.ideal_assignment(mixture, sources)
        emb, weights, masks, mix_spec = self.heads(mixture)
        if self.objective == "wa":
            return pit_l1(self.separate(masks, mix_spec, mixture), sources)
        est = masks * mix_spec.abs().unsqueeze(1)
        return chimera_loss(emb, assign, weights, est, truncated_psa(mix_spec, src_spec), self.alpha)

    def extra_repr(self) -> str:
        return (f"n_src={self.n_src}, sample_rate={self.sample_rate}, alpha={self.alpha}, "
                f"inference_head={self.inference_head!r}, phase_iterations={self.phase_iterations}, "
                f"objective={self.objective!r}")


PAPER = {"num_layers": 4, "hidden_size": 600, "embedding_dim": 20, "dropout": 0.3, "activation": "sigmoid",
         "alpha": 0.975, "inference_head": "mi", "phase_iterations": 0, "objective": "chimera"}

FAMILY = register(
    Family(
        name="chimera",
        description=(
            "Chimera++ (Wang, Le Roux, Hershey, ICASSP 2018): a BLSTM trunk with a deep-clustering head "
            "(unit-norm embedding per T-F bin) and a mask-inference head, trained on alpha x affinity loss + "
            "(1 - alpha) x truncated phase-sensitive L1 (uPIT); inference from the MI head (or k-means on the "
            "DC head). WA-MISI-K (Interspeech 2018): K iterations of multiple-input spectrogram inversion, "
            "optionally trained end to end with a waveform L1 loss."
        ),
        blocks={
            "encoder": BLOCKS_ENCODER,
            "separator": "BLSTM stack over frames; DC head: linear to D per bin, tanh, unit norm",
            "mask head": "MI head: linear to S x F + activation (or k-means on the DC embeddings)",
            "decoder": "masks x mixture spectrum, optional MISI phase iterations, inverse STFT",
        },
        hyperparameters=hparams(
            HParam("activation", "choice", "sigmoid", choices=ACTIVATIONS, doc="MI head mask activation"),
            HParam("alpha", "float", 0.975, low=0.0, high=1.0, doc="weight of the DC loss (1 - alpha: MI loss)"),
            HParam("inference_head", "choice", "mi", choices=INFERENCE_HEADS, doc="masks from the MI or the DC head"),
            HParam("phase_iterations", "int", 0, low=0, high=20, doc="MISI iterations (0: mixture phase)"),
            HParam("objective", "choice", "chimera", choices=OBJECTIVES, doc="chimera (DC + tPSA) or wa (waveform L1)"),
            layers=4, hidden=600, dim=20,
        ),
        presets={
            "paper": PAPER,
            "paper_wa_misi5": {**PAPER, "phase_iterations": 5, "objective": "wa"},
            "cpu": {"num_layers": 2, "hidden_size": 64, "embedding_dim": 20, "activation": "sigmoid",
                    "alpha": 0.975, "inference_head": "mi", "phase_iterations": 0, "objective": "chimera"},
        },
        builder=ChimeraPP,
        oracle_stft=upit_stft,
        published_params={"paper": 32_900_000, "paper_wa_misi5": 32_900_000},
        published_systems=("Chimera++", "WA-MISI-5"),
        inference="clustering",
    )
)
