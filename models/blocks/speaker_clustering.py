"""Wavesplit's speaker side: the per-step speaker loss with its permutation, the assignment of
speaker vectors to sources, and the inference-time centroids by k-means (Zeghidour & Grangier, "Wavesplit: End-to-end speech
separation by speaker clustering", IEEE/ACM TASLP 29, 2021, sections 3.1-3.3).

Speaker vectors are ``[B, S, D, K]``: ``S`` output channels of ``D``-dimensional vectors at
each of ``K`` frames. Permutations follow :mod:`models.blocks.pit`: ``perm[..., j] = i`` means
output channel ``i`` is assigned to reference (source) ``j``.

The paper's speaker loss scores each vector against an embedding table of the *training-set
speakers* (a distance-based softmax, ``-alpha * ||h - E_y||^2``). The harness has no speaker
labels, so :func:`speaker_loss` takes the table as an argument: one anchor per reference source
of the batch (``B * S`` rows); :class:`models.wavesplit.Wavesplit` makes them by running the
speaker stack on every clean reference. A source's own anchor is its class and every other
source of the batch, the other talker of the same mixture first of all, is a negative.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .clustering import kmeans, weighted_means
from .pit import permutation_costs


def distance_log_probs(vectors: Tensor, anchors: Tensor, alpha: Tensor | float) -> Tensor:
    """Log-softmax over anchors of ``-alpha * squared distance``, for every vector.

    Args:
        vectors: ``[B, S, D, K]`` speaker vectors.
        anchors: ``[N, D]`` the classes (speaker embeddings).
        alpha: positive scale (learned in the paper; a scalar tensor here).

    Returns:
        ``[B, K, S, N]``: ``out[b, k, i, n] = log p(class n | vectors[b, i, :, k])``.
    """
    h = vectors.permute(0, 3, 1, 2)  # [B, K, S, D]
    # ||h||^2 + ||a||^2 - 2 h.a: never materialises the [B, K, S, N, D] differences (at the
    # paper's one vector per sample that would be gigabytes).
    sq_dist = h.pow(2).sum(-1, keepdim=True) + anchors.pow(2).sum(-1) - 2 * h @ anchors.T  # [B, K, S, N]
    return torch.log_softmax(-alpha * sq_dist, dim=-1)


def speaker_loss(vectors: Tensor, anchors: Tensor, alpha: Tensor | float) -> tuple[Tensor, Tensor]:
    """Per-frame permutation-invariant speaker loss.

    At every frame ``k`` the ``S`` output vectors are matched to the ``S`` references of their
    utterance by the permutation ``pi_k`` of least loss (the paper's per-step assignment):

        loss = mean_{b,k} min_pi (1/S) sum_j -log p(class b*S + j | h[b, pi(j), :, k])

    Args:
        vectors: ``[B, S, D, K]``.
        anchors: ``[B, S, D]``: anchor ``anchors[b, j]`` is the class of reference ``j`` of
            utterance ``b``; all ``B * S`` anchors compete in the softmax.
        alpha: softmax scale.

    Returns:
        ``(loss, perm)``: 0-dim loss (nats per vector) and ``perm [B, K, S]``, the chosen
        permutation per frame (``perm[b, k, j]``: output channel assigned to reference ``j``).
    """
    b, s = anchors.shape[:2]
    logp = distance_log_probs(vectors, anchors.reshape(b * s, -1), alpha)  # [B, K, S_out, B*S]
    # Keep only each utterance's own references: [B, K, S_out, S_ref].
    own = logp.view(b, logp.shape[1], s, b, s)[torch.arange(b), :, :, torch.arange(b)]
    # The frame-level PIT search of models.blocks.pit, on [B, S_out, S_ref, K] costs.
    costs, perms = permutation_costs(-own.permute(0, 2, 3, 1))  # [B, P, K] summed over references
    best, which = costs.min(dim=1)  # [B, K]
    return best.mean() / s, perms[which]


def assign_vectors(vectors: Tensor, perm: Tensor) -> Tensor:
    """Reorder the speaker vectors into reference order, frame by frame.

    Args:
        vectors: ``[B, S, D, K]``; perm: ``[B, K, S]`` from :func:`speaker_loss`.

    Returns:
        ``[B, S, D, K]`` with ``out[b, j, :, k] = vectors[b, perm[b, k, j], :, k]``.
    """
    index = perm.transpose(1, 2).unsqueeze(2).expand_as(vectors)  # [B, S, D, K]
    return vectors.gather(1, index)


def kmeans_centroids(vectors: Tensor, n_iter: int = 20) -> Tensor:
    """Inference-time aggregation: k-means with ``S`` clusters over all ``S * K`` vectors.

    Cluster ``j`` starts at the time average of output channel ``j`` (deterministic, and right
    whenever the speaker stack already keeps each speaker in one channel), then
    :func:`~models.blocks.clustering.kmeans` (unweighted) groups the vectors; the centroids are
    recomputed here as the means of their members so that they stay differentiable with respect
    to the vectors (k-means itself runs without gradients).

    Args:
        vectors: ``[B, S, D, K]``. n_iter: at most this many Lloyd iterations.

    Returns:
        ``[B, S, D]`` centroids, in cluster order (which speaker is first is arbitrary). A
        cluster left without members keeps its channel average.
    """
    b, s, d, k = vectors.shape
    points = vectors.permute(0, 1, 3, 2).reshape(b, s * k, d)  # [B, S*K, D]
    init = vectors.mean(-1)  # [B, S, D]
    labels, _ = kmeans(points, None, s, n_iter, init=init)
    members = torch.nn.functional.one_hot(labels, s).to(points.dtype)  # [B, S*K, S]
    means = weighted_means(points, members, torch.ones_like(points[..., 0]))
    return torch.where(members.sum(1).unsqueeze(-1) > 0, means, init)
