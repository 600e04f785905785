"""Deep CASA: simultaneous grouping (Dense-UNet, frame-level PIT on the complex STFT), then
sequential grouping (a TCN embeds every frame's outputs; k-means groups them into speakers).

Liu & Wang, "Divide and conquer: A deep CASA approach to talker-independent monaural speaker
separation", IEEE/ACM TASLP 27(12), 2019.

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --÷ rms--> --STFT 32/8 ms--> Y [B, F, N] --(Re, Im)--> [B, 2, N, F]
        --Dense-UNet (models.blocks.dense_unet)--> [B, 2S, N, F]
        --complex ratio masks M_s, M_s ⊙ Y--> Ŷ [B, S, F, N]   (speakers' order may change per frame)
        --TCN on [log(1+|Y|), log(1+|Ŷ_s|)] (B, (1+S)F, N)--> unit embeddings v [B, N, S, D]
        --k-means (S clusters) over all (frame, output) embeddings; per frame, the output order
          nearest to the centroids--> Ŷ reordered [B, S, F, N]
        --iSTFT, × rms--> [B, S, T]

Objectives (:meth:`DeepCASA.training_loss`). Simultaneous grouping: frame-level PIT (tPIT) of the
L1 distance between estimated and reference complex spectra (real and imaginary parts), the
permutation chosen independently in every frame. Sequential grouping: a deep-clustering
affinity loss ``|V Vᵀ - A Aᵀ|_F^2`` on the (frame, output) embeddings, ``A`` the one-hot
speaker that frame-level PIT assigned to each output. The paper trains the two stages one after
the other; here both losses are summed with the sequential stage reading the simultaneous
outputs *detached*, so each stage only learns from its own loss (the same gradients as training
them in turn, with the second stage seeing a first stage that still improves).

Choices where the paper leaves room or does not fit the harness:

* Embeddings per (frame, output), not per frame. The paper embeds each frame once and clusters
  frames into the two *output orders* of two speakers; that does not extend to ``S > 2``
  (``S!`` orders whose clusters cannot be named). Embedding each output and clustering into
  ``S`` speakers carries the same information for ``S = 2`` and works for any ``S``.
* The frame-level distance is an L1 on the complex spectrum (the domain of that distance is
  our choice); no frame weighting in the clustering loss (the affinity loss of
  :mod:`models.blocks.embedding_losses` with every weight 1); k-means is the shared
  :func:`models.blocks.clustering.kmeans`, at most 10 Lloyd iterations from a farthest-point
  start, deterministic.
* The mixture is scaled to unit RMS before the STFT and the outputs scaled back, so the cRM
  network sees one input level.
* Dense-UNet and TCN sizes of the ``paper`` preset are ours: ``C = 64`` channels, dense blocks
  of 4 layers with growth 56, 4 downsamplings (3.1M); TCN ``B = 256, H = 512``, 3 repeats of 8
  blocks, ``D = 40`` dimensional embeddings (9.5M). **12,655,275** parameters for 2 speakers
  (published 12.8M, -1.1 %).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Separator
from .blocks.clustering import kmeans
from .blocks.dense_unet import DenseUNet
from .blocks.embedding_losses import affinity_loss
from .blocks.pit import permutation_costs, apply_permutation
from .blocks.tcn import TCN
from .registry import Family, HParam, register
from .upit import upit_stft


def complex_frame_pit_l1(est: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    """Frame-level PIT of the complex L1 distance ``|Re(e - r)| + |Im(e - r)|``.

    Args:
        est, ref: ``[B, S, F, N]`` complex spectra.

    Returns:
        ``(loss, perm)``: the batch mean of ``Σ_n min_π Σ_{k,f} dist(est_π(k), ref_k) / (F N S)``,
        and ``perm [B, N, S]`` (``perm[b, n, k]``: the output assigned to reference ``k``).
    """
    diff = est.unsqueeze(2) - ref.unsqueeze(1)  # [B, S_out, S_ref, F, N]
    err = (diff.real.abs() + diff.imag.abs()).mean(dim=3)  # [B, S_out, S_ref, N]
    n_src, n_frames = est.shape[1], est.shape[-1]
    # frame_pit_loss's permutation search, on the L1 error instead of its squared one.
    costs, perms = permutation_costs(err)  # [B, P, N]
    best, index = costs.min(dim=1)
    return best.sum(dim=-1).mean() / (n_frames * n_src), perms[index]


def frame_orders(embeddings: Tensor, centroids: Tensor) -> Tensor:
    """Per frame, the output order whose embeddings lie nearest the centroids.

    Args:
        embeddings: ``[B, N, S, D]``. centroids: ``[B, S, D]`` (one per speaker).

    Returns:
        ``perm [B, N, S]``: ``perm[b, n, k]`` is the output of frame ``n`` given to speaker ``k``.
    """
    v = embeddings.transpose(1, 2)  # [B, S_out, N, D]
    dist = (v.unsqueeze(2) - centroids[:, None, :, None]).pow(2).sum(-1)  # [B, S_out, S_spk, N]
    costs, perms = permutation_costs(dist)  # [B, P, N]: the frame-level PIT search
    return perms[costs.argmin(dim=1)]


class DeepCASA(Separator):
    """Deep CASA; see the module docstring.

    Args:
        n_src: speakers ``S``. sample_rate: Hz (STFT of 32 ms / 8 ms).
        channels, growth, layers, depth: the Dense-UNet (``C``, growth, layers per dense block,
            downsamplings).
        embed_dim: ``D``. B, H, X, R: the sequential-grouping TCN (kernel 3, skip = ``B``).
    """

    # Lloyd iterations of the inference k-means: our choice (module docstring), not a hyperparameter.
    kmeans_iterations = 10

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, channels: int = 64, growth: int = 56,
                 layers: int = 4, depth: int = 4, embed_dim: int = 40, B: int = 256, H: int = 512,
                 X: int = 8, R: int = 3) -> None:
        super().__init__(n_src, sample_rate)
        self.stft, self.istft, _ = upit_stft(sample_rate)
        n_bins = self.stft.n_bins
        self.simultaneous = DenseUNet(2, 2 * n_src, channels, growth, layers, depth)
        self.sequential = nn.Sequential(TCN((1 + n_src) * n_bins, B, H, 3, X, R, B), nn.PReLU(),
                                        nn.Conv1d(B, n_src * embed_dim, 1))
        self.embed_dim = embed_dim

    def gain(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, 1]``: ``1 / rms(mixture)``."""
        return mixture.pow(2).mean(-1, keepdim=True).add(1e-8).rsqrt()

    def simultaneous_grouping(self, mix_spec: Tensor) -> Tensor:
        """``Y [B, F, N]`` complex -> frame-level outputs ``[B, S, F, N]`` complex (cRM ⊙ Y)."""
        x = torch.stack([mix_spec.real, mix_spec.imag], dim=1).transpose(2, 3)  # [B, 2, N, F]
        m = self.simultaneous(x).unflatten(1, (self.n_src, 2)).transpose(3, 4)  # [B, S, 2, F, N]
        return torch.complex(m[:, :, 0], m[:, :, 1]) * mix_spec.unsqueeze(1)

    def embeddings(self, mix_spec: Tensor, outputs: Tensor) -> Tensor:
        """``Y [B, F, N]``, ``Ŷ [B, S, F, N]`` -> unit-norm embeddings ``[B, N, S, D]``."""
        feats = torch.cat([mix_spec.unsqueeze(1), outputs], dim=1).abs().log1p().flatten(1, 2)  # [B, (1+S)F, N]
        v = self.sequential(feats).unflatten(1, (self.n_src, self.embed_dim)).permute(0, 3, 1, 2)
        return nn.functional.normalize(v, dim=-1)

    def forward(self, mixture: Tensor) -> Tensor:
        self._check_mixture(mixture)
        gain = self.gain(mixture)
        mix_spec = self.stft(mixture * gain)  # [B, F, N]
        outputs = self.simultaneous_grouping(mix_spec)  # [B, S, F, N]
        v = self.embeddings(mix_spec, outputs)  # [B, N, S, D]
        _, centroids = kmeans(v.flatten(1, 2), None, self.n_src, self.kmeans_iterations)  # [B, S, D]
        order = frame_orders(v, centroids)  # [B, N, S]
        wav = self.istft(apply_permutation(outputs, order), mixture.shape[-1])  # [B, S, T]
        return wav / gain.unsqueeze(-1)

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """tPIT complex L1 (simultaneous) + affinity loss on detached outputs (sequential)."""
        self._check_sources(mixture, sources)
        gain = self.gain(mixture)
        mix_spec = self.stft(mixture * gain)
        outputs = self.simultaneous_grouping(mix_spec)
        tpit, perm = complex_frame_pit_l1(outputs, self.stft(sources * gain.unsqueeze(-1)))
        speaker_of_output = torch.argsort(perm, dim=-1)  # [B, N, S]: inverse of each frame's perm
        labels = nn.functional.one_hot(speaker_of_output, self.n_src).flatten(1, 2)  # [B, N*S, S]
        v = self.embeddings(mix_spec, outputs.detach()).flatten(1, 2)  # [B, N*S, D]
        return tpit + affinity_loss(v, labels, torch.ones(v.shape[:2], dtype=v.dtype, device=v.device))


_PAPER = {"channels": 64, "growth": 56, "layers": 4, "depth": 4, "embed_dim": 40, "B": 256, "H": 512,
          "X": 8, "R": 3}

FAMILY = register(
    Family(
        name="deepcasa",
        description=(
            "Deep CASA (Liu & Wang, IEEE/ACM TASLP 2019): simultaneous grouping by a Dense-UNet that "
            "estimates complex ratio masks with frame-level PIT, then sequential grouping by a TCN "
            "that embeds every frame's outputs; k-means on the embeddings assigns each frame's "
            "outputs to speakers."
        ),
        blocks={
            "encoder": "STFT 32 ms / 8 ms sqrt-Hann of the unit-RMS mixture, real and imaginary parts",
            "separator": "Dense-UNet (dense blocks, stride-2 down/up sampling, skips) -> frame-level "
                         "outputs; TCN on log-magnitudes of mixture and outputs -> (frame, output) embeddings",
            "mask head": "complex ratio masks (linear); k-means over embeddings orders each frame's outputs",
            "decoder": "iSTFT of the reordered outputs, times the mixture RMS",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("channels", "int", 64, low=4, high=256, log=True, doc="Dense-UNet channels"),
                HParam("growth", "int", 56, low=2, high=128, log=True, doc="dense-block growth rate"),
                HParam("layers", "int", 4, low=1, high=8, doc="conv layers per dense block"),
                HParam("depth", "int", 4, low=1, high=5, doc="Dense-UNet downsamplings"),
                HParam("embed_dim", "int", 40, low=2, high=128, log=True, doc="embedding dimension D"),
                HParam("B", "int", 256, low=8, high=512, log=True, doc="TCN bottleneck / skip channels"),
                HParam("H", "int", 512, low=8, high=1024, log=True, doc="TCN channels inside blocks"),
                HParam("X", "int", 8, low=1, high=10, doc="TCN blocks per repeat"),
                HParam("R", "int", 3, low=1, high=6, doc="TCN repeats"),
            )
        },
        presets={
            "paper": dict(_PAPER),
            "cpu": {"channels": 16, "growth": 8, "layers": 2, "depth": 2, "embed_dim": 8, "B": 32, "H": 64,
                    "X": 4, "R": 1},
        },
        builder=DeepCASA,
        published_params={"paper": 12_800_000},
        published_systems=("DeepCASA",),
        inference="clustering",
    )
)
