"""DANet and ADANet: deep attractor networks, attractors from the ideal mask or from anchors.

Chen, Luo, Mesgarani, "Deep attractor network for single-microphone speaker separation",
ICASSP 2017 (``danet``); Luo, Chen, Mesgarani, "Speaker-independent speech separation with deep
attractor network", IEEE/ACM TASLP 26(4), 2018 (``adanet``).

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, N, F]
        --BLSTM stack--> [B, N, 2H] --Linear--> V [B, F, N, K]
        --attractors A [B, S, K]: DANet training: means of V under the ideal binary mask;
                                  DANet inference: k-means centroids;
                                  ADANet: anchored attractors, training and inference alike
        --sigmoid / softmax(V Aᵀ)--> M [B, S, F, N] --M ⊙ Y (mixture phase)--> --iSTFT--> [B, S, T]

Loss: squared error between ``M_s ⊙ |Y|`` and the source magnitude ``|X_s|``. DANet's
attractors follow the references' order, so its loss needs no permutation search; ADANet's
follow the order of the chosen anchors, so its loss is utterance-level PIT. Attractors only
average over bins within ``silence_db`` of the loudest one (the papers' threshold).

**Sizes (paper presets).** Both papers: 4 BLSTM layers of 300 units per direction, K = 20, on
129 bins: 9,079,380 parameters (9.1M in the Conv-TasNet paper's table), ADANet adds 6 anchors
x 20 = 120: 9,079,500. The embedding layer is linear (no non-linearity or normalisation: the
papers form masks from raw dot products); our choice where the text is silent. Mask
activation: sigmoid for DANet (its paper), softmax for ADANet (our default; a hyperparameter).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .blocks.clustering import anchor_attractors, attractor_masks, kmeans, weighted_means
from .blocks.embedding_losses import magnitude_mse
from .blocks.pit import utterance_pit_loss
from .dpcl import BLOCKS_ENCODER, EmbeddingSeparator, hparams
from .registry import Family, HParam, register
from .upit import upit_stft

MASK_ACTIVATIONS = ("sigmoid", "softmax")


class DANet(EmbeddingSeparator):
    """Deep attractor network: ideal-mask attractors at training, k-means ones at inference.

    Args:
        n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, silence_db,
            kmeans_iterations: :class:`~models.dpcl.EmbeddingSeparator` (linear embeddings).
        activation: ``'sigmoid'`` or ``'softmax'`` (across sources) of ``V Aᵀ``.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, num_layers: int = 4, hidden_size: int = 300,
                 dropout: float = 0.0, embedding_dim: int = 20, silence_db: float = 40.0,
                 kmeans_iterations: int = 20, activation: str = "sigmoid") -> None:
        super().__init__(n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, False, silence_db,
                         kmeans_iterations)
        if activation not in MASK_ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(MASK_ACTIVATIONS)}, got {activation!r}")
        self.activation = activation

    def inference_attractors(self, emb: Tensor, weights: Tensor) -> Tensor:
        """``[B, S, K]`` attractors without references: k-means centroids of the active bins."""
        return kmeans(emb, weights, self.n_src, self.kmeans_iterations)[1]

    def training_attractors(self, emb: Tensor, weights: Tensor, assign: Tensor) -> Tensor:
        """``[B, S, K]`` attractors at training: means under the ideal binary assignment ``[B, P, S]``."""
        return weighted_means(emb, assign, weights)

    def masked(self, emb: Tensor, attractors: Tensor, mix_spec: Tensor) -> Tensor:
        """Masks ``[B, S, F, N]`` from ``V [B, P, K]`` and ``A [B, S, K]``."""
        return attractor_masks(emb, attractors, self.activation).unflatten(2, mix_spec.shape[-2:])

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]``: embeddings, attractors (deterministic), masks, iSTFT."""
        emb, weights, mix_spec = self.embed(mixture)  # [B, P, K], [B, P], [B, F, N]
        masks = self.masked(emb, self.inference_attractors(emb, weights), mix_spec)
        return self.synthesize(masks, mix_spec, mixture.shape[-1])

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """Mean squared error of ``M_s ⊙ |Y|`` against ``|X_s|``, ideal-mask attractors, reference order."""
        assign, src_spec = self.ideal_assignment(mixture, sources)
        emb, weights, mix_spec = self.embed(mixture)
        masks = self.masked(emb, self.training_attractors(emb, weights, assign), mix_spec)
        return magnitude_mse(masks * mix_spec.abs().unsqueeze(1), src_spec.abs())

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, sample_rate={self.sample_rate}, activation={self.activation!r}"


class ADANet(DANet):
    """Anchored deep attractor network: the same attractors at training and inference.

    Args:
        n_anchors: learned anchors (paper: 6); must be at least ``n_src``.
        Others: :class:`DANet`.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, num_layers: int = 4, hidden_size: int = 300,
                 dropout: float = 0.0, embedding_dim: int = 20, silence_db: float = 40.0,
                 kmeans_iterations: int = 20, activation: str = "softmax", n_anchors: int = 6) -> None:
        super().__init__(n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, silence_db,
                         kmeans_iterations, activation)
        if n_anchors < n_src:
            raise ValueError(f"n_anchors must be at least n_src = {n_src}, got {n_anchors}")
        # Random, not zero: identical anchors would give identical attractors.
        self.anchors = nn.Parameter(torch.randn(n_anchors, embedding_dim))

    def inference_attractors(self, emb: Tensor, weights: Tensor) -> Tensor:
        return anchor_attractors(emb, weights, self.anchors, self.n_src)

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """uPIT mean squared error of ``M_s ⊙ |Y|`` against ``|X_s|`` with anchored attractors."""
        _, src_spec = self.ideal_assignment(mixture, sources)
        emb, weights, mix_spec = self.embed(mixture)
        masks = self.masked(emb, self.inference_attractors(emb, weights), mix_spec)
        loss, _ = utterance_pit_loss(masks * mix_spec.abs().unsqueeze(1), src_spec.abs())
        return loss


def _family(name: str, builder: type[DANet], description: str, activation: str, extra: tuple[HParam, ...],
            paper: dict, cpu: dict, published: int, system: str, attractors: str) -> Family:
    return register(Family(
        name=name,
        description=description,
        blocks={
            "encoder": BLOCKS_ENCODER,
            "separator": "BLSTM stack over frames, linear to K per bin (embeddings)",
            "mask head": f"attractors ({attractors}), {activation} of embedding-attractor dot products",
            "decoder": "masks x mixture spectrum (mixture phase), inverse STFT",
        },
        hyperparameters=hparams(
            HParam("activation", "choice", activation, choices=MASK_ACTIVATIONS, doc="mask activation of V Aᵀ"),
            *extra, layers=4, hidden=300, dim=20,
        ),
        presets={"paper": paper, "cpu": cpu},
        builder=builder,
        oracle_stft=upit_stft,
        published_params={"paper": published},
        published_systems=(system,),
        inference="clustering",
    ))


PAPER = {"num_layers": 4, "hidden_size": 300, "embedding_dim": 20}
CPU = {"num_layers": 2, "hidden_size": 64, "embedding_dim": 20}

FAMILY = _family(
    "danet", DANet,
    "DANet (Chen, Luo, Mesgarani, ICASSP 2017): a BLSTM embeds every T-F bin; attractors are the mean "
    "embeddings of each speaker's bins (ideal binary mask at training, k-means at test); masks are the "
    "sigmoid of embedding-attractor similarity, trained on the reconstructed magnitude.",
    "sigmoid", (), {**PAPER, "activation": "sigmoid"}, {**CPU, "activation": "sigmoid"}, 9_100_000, "DANet",
    "ideal binary mask at training, k-means at test",
)

ADANET_FAMILY = _family(
    "adanet", ADANet,
    "ADANet (Luo, Chen, Mesgarani, IEEE/ACM TASLP 2018): DANet with learned anchors; per utterance the "
    "subset of anchors whose attractors are least similar is chosen, the same at training and test, and "
    "the reconstructed magnitude is trained with utterance-level PIT.",
    "softmax", (HParam("n_anchors", "int", 6, low=2, high=10, doc="learned anchors (>= n_src)"),),
    {**PAPER, "activation": "softmax", "n_anchors": 6}, {**CPU, "activation": "softmax", "n_anchors": 6},
    9_100_000, "ADANet", "anchors, least in-set similarity",
)
