"""DPCL++: deep clustering of T-F embeddings, with the "++" enhancement network.

Isik, Le Roux, Chen, Watanabe, Hershey, "Single-channel multi-speaker separation using deep
clustering", Interspeech 2016 (deep clustering itself: Hershey, Chen, Le Roux, Watanabe,
ICASSP 2016).

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, N, F]
        --BLSTM stack--> [B, N, 2H] --Linear, tanh, unit norm--> V [B, F, N, D]
        --k-means over the active bins (S clusters)--> binary masks M [B, S, F, N]
        [--enhancement BLSTM on (log|Y|, log|M_s ⊙ Y|), softmax over S--> soft masks]
        --masks ⊙ Y (mixture phase)--> [B, S, F, N] --iSTFT--> [B, S, T]

Training: the deep clustering loss ``||VVᵀ − YYᵀ||_F²`` over the bins within ``silence_db`` of
the loudest (:func:`~models.blocks.embedding_losses.affinity_loss`), plus, with an
enhancement network, its utterance-PIT squared magnitude error. The enhancement network reads
the k-means masks of the *detached* embeddings, i.e. it is trained as the paper's second stage
on top of the clustering; the paper's third stage, end-to-end fine-tuning through an unfolded
soft k-means, is not reproduced (one ``training_loss`` cannot hold a staged schedule, and
without it the two terms train independent parameters). ``enhancement_layers: 0`` is plain
deep clustering (Hershey et al.), what the cpu preset trains.

**Sizes (paper preset).** 4 BLSTM layers of 300 units per direction on 129 bins, D = 40, and
an enhancement network of 2 BLSTM layers of 300 units: 14,216,289 parameters, +4.5 % on the
13.6M of the Conv-TasNet paper's table. The enhancement input (mixture and one source estimate,
2F features) and output (F mask logits per source) are our reading of the paper; without the
enhancement network the model has 10.63M.

Not from the paper: per-utterance input normalisation (as in :mod:`models.upit`; the paper
uses global statistics) and deterministic farthest-point k-means initialisation
(:func:`~models.blocks.clustering.kmeans`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Separator
from .blocks.clustering import EmbeddingHead, kmeans
from .blocks.embedding_losses import active_bins, affinity_loss, ideal_binary_mask
from .blocks.pit import utterance_pit_loss
from .blocks.rnn import RNNStack
from .blocks.stft import normalised_log_magnitude
from .registry import Family, HParam, register
from .upit import upit_stft


class EmbeddingSeparator(Separator):
    """What every embedding family shares: STFT, normalised log-magnitude, BLSTM trunk, one
    embedding per T-F bin, silence weights and mixture-phase resynthesis.

    Args:
        n_src: speakers ``S``; sample_rate: Hz (STFT 32 ms / 8 ms, F = 129 at 8 kHz).
        num_layers, hidden_size, dropout: the BLSTM trunk (units per direction).
        embedding_dim: ``D``.
        unit_norm: tanh + unit-length embeddings (deep clustering) or linear ones (attractors).
        silence_db: bins more than this many dB below the utterance maximum are silent.
        kmeans_iterations: Lloyd iterations at inference.
    """

    def __init__(self, n_src: int, sample_rate: int, num_layers: int, hidden_size: int, dropout: float,
                 embedding_dim: int, unit_norm: bool, silence_db: float, kmeans_iterations: int) -> None:
        super().__init__(n_src, sample_rate)
        self.silence_db, self.kmeans_iterations = silence_db, kmeans_iterations
        self.encoder, self.decoder, _ = upit_stft(sample_rate)
        n_bins = self.encoder.n_bins
        self.separator = RNNStack(n_bins, hidden_size, num_layers, True, dropout)
        self.embedding = EmbeddingHead(self.separator.output_size, n_bins, embedding_dim, unit_norm)

    def trunk(self, mix_spec: Tensor) -> Tensor:
        """``[B, F, N]`` complex -> ``[B, N, 2H]`` BLSTM features."""
        return self.separator(normalised_log_magnitude(mix_spec).transpose(1, 2))

    def embed(self, mixture: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``[B, T]`` -> ``(V [B, P, D] with P = F·N in (f, n) order, weights [B, P], Y [B, F, N])``."""
        self._check_mixture(mixture)
        mix_spec = self.encoder(mixture)
        emb = self.embedding(self.trunk(mix_spec))  # [B, F, N, D]
        weights = active_bins(mix_spec.abs(), self.silence_db).flatten(1)
        return emb.flatten(1, 2), weights, mix_spec

    def cluster_masks(self, emb: Tensor, weights: Tensor, mix_spec: Tensor) -> Tensor:
        """k-means binary masks ``[B, S, F, N]`` from embeddings ``[B, P, D]``."""
        labels, _ = kmeans(emb, weights, self.n_src, self.kmeans_iterations)
        onehot = nn.functional.one_hot(labels, self.n_src).to(mix_spec.real.dtype)  # [B, P, S]
        return onehot.transpose(1, 2).reshape(-1, self.n_src, *mix_spec.shape[-2:])

    def ideal_assignment(self, mixture: Tensor, sources: Tensor) -> tuple[Tensor, Tensor]:
        """``(Y [B, P, S] ideal binary assignment, source spectra [B, S, F, N])``."""
        self._check_sources(mixture, sources)
        src_spec = self.encoder(sources)
        return ideal_binary_mask(src_spec.abs()).flatten(2).transpose(1, 2), src_spec

    def synthesize(self, masks: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Real masks ``[B, S, F, N]`` on the mixture spectrum (mixture phase) -> ``[B, S, length]``."""
        return self.decoder(masks * mix_spec.unsqueeze(1), length)


class EnhancementNetwork(nn.Module):
    """DPCL++'s second stage: refines each source's clustering estimate, masks softmax'd over S.

    Input per source ``s`` and frame: the mixture's normalised log magnitude and that of
    ``M_s ⊙ |Y|`` (floored at the silence threshold, normalised with the mixture's statistics),
    ``2F`` features; a BLSTM stack shared by all sources; a linear layer to ``F`` logits.

    Shapes:
        ``(binary masks [B, S, F, N], Y [B, F, N] complex) -> masks [B, S, F, N]``.
    """

    def __init__(self, n_bins: int, hidden_size: int, num_layers: int, silence_db: float) -> None:
        super().__init__()
        self.silence_db = silence_db
        self.rnn = RNNStack(2 * n_bins, hidden_size, num_layers, True)
        self.out = nn.Linear(self.rnn.output_size, n_bins)

    def forward(self, masks: Tensor, mix_spec: Tensor) -> Tensor:
        batch, n_src, n_bins, frames = masks.shape
        mag = mix_spec.abs().unsqueeze(1)
        floor = mag.flatten(1).amax(dim=1).view(-1, 1, 1, 1) * 10.0 ** (-self.silence_db / 20.0) + 1e-8
        logs = torch.log(torch.cat([mag, masks * mag], dim=1).clamp_min(floor))  # [B, 1 + S, F, N]
        mean = logs[:, :1].mean(dim=(2, 3), keepdim=True)
        std = logs[:, :1].std(dim=(2, 3), keepdim=True)
        logs = (logs - mean) / (std + 1e-5)
        x = torch.cat([logs[:, :1].expand(-1, n_src, -1, -1), logs[:, 1:]], dim=2)  # [B, S, 2F, N]
        h = self.rnn(x.reshape(batch * n_src, 2 * n_bins, frames).transpose(1, 2))  # [B S, N, 2H]
        logits = self.out(h).view(batch, n_src, frames, n_bins).transpose(2, 3)
        return torch.softmax(logits, dim=1)


class DPCL(EmbeddingSeparator):
    """Deep clustering (+ optional enhancement network): see the module docstring.

    Args:
        n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, silence_db,
            kmeans_iterations: :class:`EmbeddingSeparator`.
        enhancement_layers: BLSTM layers of the enhancement network (0: none, plain DPCL).
        enhancement_hidden: its units per direction.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, num_layers: int = 4, hidden_size: int = 300,
                 dropout: float = 0.0, embedding_dim: int = 40, silence_db: float = 40.0,
                 kmeans_iterations: int = 20, enhancement_layers: int = 2, enhancement_hidden: int = 300) -> None:
        super().__init__(n_src, sample_rate, num_layers, hidden_size, dropout, embedding_dim, True, silence_db,
                         kmeans_iterations)
        self.enhancement = (EnhancementNetwork(self.encoder.n_bins, enhancement_hidden, enhancement_layers, silence_db)
                            if enhancement_layers > 0 else None)

    def masks(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, T]`` -> ``(masks [B, S, F, N], mixture spectrum [B, F, N])``, k-means included."""
        emb, weights, mix_spec = self.embed(mixture)
        masks = self.cluster_masks(emb, weights, mix_spec)
        if self.enhancement is not None:
            masks = self.enhancement(masks, mix_spec)
        return masks, mix_spec

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]``: embeddings, k-means (deterministic), (enhancement), iSTFT."""
        masks, mix_spec = self.masks(mixture)
        return self.synthesize(masks, mix_spec, mixture.shape[-1])

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """Affinity loss on the active bins (+ enhancement uPIT magnitude MSE, see the module docstring)."""
        assign, src_spec = self.ideal_assignment(mixture, sources)
        emb, weights, mix_spec = self.embed(mixture)
        loss = affinity_loss(emb, assign, weights)
        if self.enhancement is not None:
            masks = self.enhancement(self.cluster_masks(emb, weights, mix_spec), mix_spec)
            enhancement_loss, _ = utterance_pit_loss(masks * mix_spec.abs().unsqueeze(1), src_spec.abs())
            loss = loss + enhancement_loss
        return loss


def _trunk_hparams(layers: int, hidden: int, dim: int) -> list[HParam]:
    """The hyperparameters every embedding family shares, with its paper's defaults."""
    return [
        HParam("num_layers", "int", layers, low=1, high=6, doc="BLSTM layers of the trunk"),
        HParam("hidden_size", "int", hidden, low=16, high=1024, log=True, doc="BLSTM units per direction"),
        HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="dropout between BLSTM layers and on their output"),
        HParam("embedding_dim", "int", dim, low=2, high=64, doc="embedding dimension D per T-F bin"),
        HParam("silence_db", "float", 40.0, low=10.0, high=100.0, doc="silent: this far below the peak (dB)"),
        HParam("kmeans_iterations", "int", 20, low=1, high=100, doc="Lloyd iterations of k-means at inference"),
    ]


def hparams(*extra: HParam, layers: int, hidden: int, dim: int) -> dict[str, HParam]:
    """``name -> HParam`` for the shared trunk knobs plus ``extra``."""
    return {hp.name: hp for hp in (*_trunk_hparams(layers, hidden, dim), *extra)}


BLOCKS_ENCODER = "STFT, 32 ms sqrt-Hann window, 8 ms hop; log-magnitude, per-utterance mean/variance normalised"

FAMILY = register(
    Family(
        name="dpcl",
        description=(
            "DPCL++ (Isik et al., Interspeech 2016; deep clustering of Hershey et al., ICASSP 2016): a BLSTM "
            "maps the log-magnitude STFT to a unit-norm embedding per T-F bin, trained so that embeddings of "
            "bins dominated by the same speaker align (affinity loss, silent bins excluded); k-means on the "
            "embeddings gives binary masks, refined by an optional BLSTM enhancement network."
        ),
        blocks={
            "encoder": BLOCKS_ENCODER,
            "separator": "BLSTM stack over frames, linear to D per bin, tanh, unit norm",
            "mask head": "deterministic weighted k-means (S clusters) -> binary masks; optional enhancement BLSTM",
            "decoder": "masks x mixture spectrum (mixture phase), inverse STFT",
        },
        hyperparameters=hparams(
            HParam("enhancement_layers", "int", 2, low=0, high=4, doc="enhancement BLSTM layers (0: plain DPCL)"),
            HParam("enhancement_hidden", "int", 300, low=16, high=1024, log=True, doc="enhancement units/direction"),
            layers=4, hidden=300, dim=40,
        ),
        presets={
            # Isik et al.: 4 x 300 BLSTM, D = 40, enhancement 2 x 300 BLSTM.
            "paper": {"num_layers": 4, "hidden_size": 300, "embedding_dim": 40, "enhancement_layers": 2,
                      "enhancement_hidden": 300},
            # Plain deep clustering at laptop size.
            "cpu": {"num_layers": 2, "hidden_size": 64, "embedding_dim": 20, "enhancement_layers": 0,
                    "enhancement_hidden": 64},
        },
        builder=DPCL,
        oracle_stft=upit_stft,
        published_params={"paper": 13_600_000},
        published_systems=("DPCL++",),
        inference="clustering",
    )
)
