"""Clustering of embeddings into sources: the embedding head, the one batched weighted k-means
of the clustering families, attractors and ADANet's anchor-based attractors.

Every function works on a batch of utterances at once: embeddings ``[B, P, D]`` for ``P``
points, T-F bins here (``P = F · N``), bin weights ``[B, P]`` (1 active, 0 silent;
:func:`~models.blocks.embedding_losses.active_bins`). :func:`kmeans` also groups DeepCASA's
(frame, output) embeddings and Wavesplit's speaker vectors
(:func:`~models.blocks.speaker_clustering.kmeans_centroids`), there without weights.

k-means is deterministic: the first centroid is the active embedding farthest from the weighted
mean, every next one the active embedding farthest from its nearest centroid so far
(farthest-point initialisation) unless the caller gives the starting centroids, then at most a
fixed number of Lloyd iterations. No random numbers, so ``forward`` gives the same output for
the same input, which evaluation and the tests rely on.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn


class EmbeddingHead(nn.Module):
    """Per-frame linear layer to a ``D``-dimensional embedding for every frequency bin.

    Args:
        in_features: separator output per frame (``2 · hidden`` for a BLSTM).
        n_bins: frequency bins ``F``.
        dim: embedding dimension ``D``.
        unit_norm: ``tanh`` then unit length (deep clustering), or the plain linear output
            (the deep attractor networks, whose masks are dot products with attractors).

    Shapes:
        ``[B, N, in_features] -> [B, F, N, D]``.
    """

    def __init__(self, in_features: int, n_bins: int, dim: int, unit_norm: bool) -> None:
        super().__init__()
        self.n_bins, self.dim, self.unit_norm = n_bins, dim, unit_norm
        self.linear = nn.Linear(in_features, n_bins * dim)

    def forward(self, h: Tensor) -> Tensor:
        batch, frames, _ = h.shape
        emb = self.linear(h).view(batch, frames, self.n_bins, self.dim).transpose(1, 2)
        if self.unit_norm:
            emb = nn.functional.normalize(torch.tanh(emb), dim=-1)
        return emb

    def extra_repr(self) -> str:
        return f"n_bins={self.n_bins}, dim={self.dim}, unit_norm={self.unit_norm}"


def weighted_means(emb: Tensor, resp: Tensor, weights: Tensor) -> Tensor:
    """Attractors: per-source weighted means of the embeddings.

    ``A_s = Σ_p w_p r_ps V_p / Σ_p w_p r_ps`` (DANet's eq. with ``r`` = ideal binary mask; soft
    responsibilities for ADANet). A source with no weight gets the zero vector.

    Args:
        emb: ``[B, P, D]``; resp: ``[B, P, S]`` responsibilities; weights: ``[B, P]``.

    Returns:
        ``[B, S, D]``.
    """
    r = resp * weights.unsqueeze(-1)
    return torch.einsum("bps,bpd->bsd", r, emb) / r.sum(dim=1).unsqueeze(-1).clamp_min(1e-8)


def _farthest_point_init(emb: Tensor, active: Tensor, n_clusters: int) -> Tensor:
    """``[B, P, D]`` embeddings, ``[B, P]`` bool -> ``[B, K, D]`` initial centroids."""
    w = active.to(emb.dtype)
    mean = (emb * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True).clamp_min(1.0)
    nearest = (emb - mean.unsqueeze(1)).pow(2).sum(-1)  # [B, P]: squared distance to the nearest centroid
    centroids = []
    for _ in range(n_clusters):
        # Inactive bins can never be picked; argmax breaks ties by the lowest index.
        pick = torch.where(active, nearest, torch.full_like(nearest, -1.0)).argmax(dim=1)
        c = emb[torch.arange(emb.shape[0]), pick]  # [B, D]
        centroids.append(c)
        dist = (emb - c.unsqueeze(1)).pow(2).sum(-1)
        nearest = dist if len(centroids) == 1 else torch.minimum(nearest, dist)
    return torch.stack(centroids, dim=1)


def _clustering_weights(weights: Tensor | None, emb: Tensor) -> Tensor:
    """``[B, P]`` weights (or ``None``: all 1) -> ``[B, P]`` weights of the points that move centroids.

    An utterance with no positive weight is clustered as if every point had weight 1: its
    points still need labels, and they are all the evidence there is.
    """
    if weights is None:
        return torch.ones(emb.shape[:2], dtype=emb.dtype, device=emb.device)
    weights = weights.detach()
    active = weights > 0
    silent = ~active.any(dim=1, keepdim=True)
    return torch.where(silent, torch.ones_like(weights), weights * active)


@torch.no_grad()
def kmeans(emb: Tensor, weights: Tensor | None, n_clusters: int, iterations: int = 20,
           init: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Batched, deterministic, weighted k-means (Lloyd).

    Only points with positive weight move the centroids; every point, silent ones included,
    gets a label (the masks need one everywhere). A cluster that loses all its points keeps its
    previous centroid, so ``K`` clusters always exist. The iterations stop early once no label
    changes: from there on every iteration would compute the same centroids again.

    Args:
        emb: ``[B, P, D]`` points (detached: clustering is not differentiated).
        weights: ``[B, P]`` non-negative point weights, or ``None`` for all 1.
        n_clusters: ``K`` (the number of sources).
        iterations: at most this many Lloyd iterations after the initialisation.
        init: ``[B, K, D]`` starting centroids, or ``None`` for the farthest-point
            initialisation over the active points.

    Returns:
        ``(labels [B, P] long in [0, K), centroids [B, K, D])``.
    """
    emb = emb.detach()
    weights = _clustering_weights(weights, emb)
    if init is None:
        centroids = _farthest_point_init(emb, weights > 0, n_clusters)
    elif init.shape != (emb.shape[0], n_clusters, emb.shape[2]):
        raise ValueError(f"init must be [B, K, D] = {(emb.shape[0], n_clusters, emb.shape[2])}, got {tuple(init.shape)}")
    else:
        centroids = init.detach().to(emb.dtype)
    labels = None
    for _ in range(iterations):
        new = torch.cdist(emb, centroids).argmin(dim=-1)
        if labels is not None and torch.equal(new, labels):
            break
        labels = new
        members = nn.functional.one_hot(labels, n_clusters).to(emb.dtype)  # [B, P, K]
        mass = (members * weights.unsqueeze(-1)).sum(dim=1).unsqueeze(-1)  # [B, K, 1]
        centroids = torch.where(mass > 0, weighted_means(emb, members, weights), centroids)
    return torch.cdist(emb, centroids).argmin(dim=-1), centroids


def anchor_combinations(n_anchors: int, n_src: int, device: torch.device | None = None) -> Tensor:
    """All ``C(n_anchors, n_src)`` subsets of anchor indices, ``[Q, S]`` long, lexicographic."""
    if n_src > n_anchors:
        raise ValueError(f"need at least n_src = {n_src} anchors, got {n_anchors}")
    return torch.tensor(list(itertools.combinations(range(n_anchors), n_src)), dtype=torch.long, device=device)


def anchor_attractors(emb: Tensor, weights: Tensor, anchors: Tensor, n_src: int) -> Tensor:
    """ADANet's anchored attractors (Luo, Chen, Mesgarani, TASLP 2018).

    For every subset of ``S`` anchors: soft-assign the bins to the anchors (softmax over the
    subset of ``V · anchor``), form attractors as the assignment-weighted means of the active
    embeddings, and score the subset by its in-set similarity, the largest dot product between
    two of its attractors. The subset with the smallest in-set similarity gives the
    utterance's attractors, at training and at test time alike. The choice is discrete; the
    chosen attractors stay differentiable in the embeddings and the anchors.

    Args:
        emb: ``[B, P, D]``; weights: ``[B, P]``; anchors: ``[A, D]``; n_src: ``S <= A``.

    Returns:
        ``[B, S, D]`` attractors, in the order of the chosen anchors.
    """
    combos = anchor_combinations(anchors.shape[0], n_src, emb.device)  # [Q, S]
    resp = torch.softmax(torch.einsum("bpd,qsd->bqps", emb, anchors[combos]), dim=-1)  # [B, Q, P, S]
    r = resp * weights[:, None, :, None]
    attractors = torch.einsum("bqps,bpd->bqsd", r, emb) / r.sum(dim=2).unsqueeze(-1).clamp_min(1e-8)
    if n_src > 1:
        sim = torch.einsum("bqsd,bqtd->bqst", attractors, attractors)
        off_diagonal = ~torch.eye(n_src, dtype=torch.bool, device=emb.device)
        in_set = sim.masked_fill(~off_diagonal, float("-inf")).flatten(2).amax(dim=-1)  # [B, Q]
        choice = in_set.detach().argmin(dim=1)
    else:
        choice = torch.zeros(emb.shape[0], dtype=torch.long, device=emb.device)
    return attractors[torch.arange(emb.shape[0], device=emb.device), choice]


def attractor_masks(emb: Tensor, attractors: Tensor, activation: str) -> Tensor:
    """Masks from embedding-attractor similarity: ``act(V Aᵀ)``.

    Args:
        emb: ``[B, P, D]``; attractors: ``[B, S, D]``; activation: ``'sigmoid'`` (DANet) or
            ``'softmax'`` (across sources).

    Returns:
        ``[B, S, P]`` masks in ``[0, 1]``.
    """
    logits = torch.einsum("bpd,bsd->bsp", emb, attractors)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    if activation == "softmax":
        return torch.softmax(logits, dim=1)
    raise ValueError(f"attractor mask activation must be 'sigmoid' or 'softmax', got {activation!r}")
