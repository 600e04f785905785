"""The clustering separators' shared pieces on tiny, hand-computed examples: the deep-clustering
affinity loss, the attractor and chimera losses and their T-F labels
(models/blocks/embedding_losses.py), and k-means, attractors and anchors
(models/blocks/clustering.py)."""

from __future__ import annotations

import math

import pytest
import torch

from sweep.models.blocks.clustering import anchor_attractors, attractor_masks, kmeans, weighted_means
from sweep.models.blocks.embedding_losses import (
    active_bins,
    affinity_loss,
    chimera_loss,
    ideal_binary_mask,
    magnitude_mse,
    pit_l1,
    truncated_psa,
)

# Two bins, D = 3, unit-norm embeddings 53.13 degrees apart; the bins belong to different sources.
V = torch.tensor([[[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]]])  # [B=1, P=2, D=3]
Y = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # [B=1, P=2, S=2]


# -- Deep clustering -----------------------------------------------------------------------


def test_affinity_loss_of_two_bins_by_hand() -> None:
    # V Vᵀ = [[1, .6], [.6, 1]], Y Yᵀ = I: the squared difference is 2 x 0.6² = 0.72, and the
    # loss divides by (Σ w)² = 4 pairs.
    assert affinity_loss(V, Y, torch.ones(1, 2)).item() == pytest.approx(0.72 / 4)
    # The same bins, one source: Y Yᵀ is all ones, the difference 2 x 0.4² = 0.32.
    assert affinity_loss(V, torch.ones(1, 2, 1), torch.ones(1, 2)).item() == pytest.approx(0.32 / 4)


def test_affinity_loss_equals_the_explicit_n_by_n_matrices() -> None:
    # The low-rank identity against Σ_pq w_p w_q (v_p·v_q − y_p·y_q)², written out.
    torch.manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(2, 7, 4), dim=-1)
    assign = torch.nn.functional.one_hot(torch.randint(0, 3, (2, 7)), 3).float()
    weights = (torch.rand(2, 7) > 0.3).float()
    expected = []
    for b in range(2):
        diff = emb[b] @ emb[b].T - assign[b] @ assign[b].T
        w = weights[b][:, None] * weights[b][None, :]
        expected.append((w * diff**2).sum() / weights[b].sum() ** 2)
    assert affinity_loss(emb, assign, weights).item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)


def test_silent_bins_do_not_count() -> None:
    # A third bin with weight 0 and an embedding that contradicts its label changes nothing.
    emb = torch.cat([V, torch.tensor([[[0.0, 0.0, 1.0]]])], dim=1)
    assign = torch.cat([Y, torch.tensor([[[1.0, 0.0]]])], dim=1)
    loss = affinity_loss(emb, assign, torch.tensor([[1.0, 1.0, 0.0]]))
    assert loss.item() == pytest.approx(0.72 / 4)


def test_active_bins_are_within_silence_db_of_the_peak() -> None:
    mag = torch.tensor([[[1.0, 0.1, 0.001, 0.02]]])  # 0, -20, -60, -34 dB
    assert active_bins(mag, 40.0).tolist() == [[[1.0, 1.0, 0.0, 1.0]]]
    assert active_bins(mag, 30.0).tolist() == [[[1.0, 1.0, 0.0, 0.0]]]
    assert active_bins(torch.zeros(1, 2, 2), 40.0).sum() == 0  # digital silence: nothing active


def test_ideal_binary_mask_is_one_hot_on_the_loudest_source() -> None:
    mag = torch.tensor([[[[3.0, 1.0, 2.0]], [[1.0, 5.0, 2.0]]]])  # [B=1, S=2, F=1, N=3], a tie at n=2
    assert ideal_binary_mask(mag).tolist() == [[[[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]]]


# -- Attractor and chimera losses ----------------------------------------------------------


def test_magnitude_mse_by_hand() -> None:
    est = torch.tensor([[[[1.0, 2.0]]]])  # [1, 1, 1, 2]
    assert magnitude_mse(est, torch.tensor([[[[0.0, 4.0]]]])).item() == pytest.approx((1 + 4) / 2)
    with pytest.raises(ValueError, match="one shape"):
        magnitude_mse(est, torch.zeros(1, 2, 1, 2))


def test_pit_l1_takes_the_better_order() -> None:
    est = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    target = torch.tensor([[[0.0, 0.0], [3.0, 3.0]]])
    # As emitted: (|1 − 0| + |0 − 3|) / 2 = 2; swapped: (|0 − 0| + |1 − 3|) / 2 = 1.
    assert pit_l1(est, target).item() == pytest.approx(1.0)


def test_truncated_psa_by_hand() -> None:
    mix = torch.tensor([[[1.0 + 0.0j]]])  # |Y| = 1, phase 0
    tilted = 0.3 * complex(math.cos(math.pi / 3), math.sin(math.pi / 3))
    src = torch.tensor([[[[2.0 + 0j]], [[0.5j]], [[-0.5 + 0j]], [[tilted]]]])
    # 2 cos 0 = 2 -> truncated to |Y| = 1;  0.5 cos(π/2) = 0;  0.5 cos π < 0 -> 0;  0.3 cos(π/3) = 0.15.
    expected = torch.tensor([1.0, 0.0, 0.0, 0.15]).view(1, 4, 1, 1)
    torch.testing.assert_close(truncated_psa(mix, src), expected, atol=1e-6, rtol=0)


def test_chimera_loss_weighs_the_two_heads_by_alpha() -> None:
    est = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]]).unsqueeze(2)  # PIT-L1 of 1 against the target below
    target = torch.tensor([[[0.0, 0.0], [3.0, 3.0]]]).unsqueeze(2)
    loss = chimera_loss(V, Y, torch.ones(1, 2), est, target, alpha=0.25)
    assert loss.item() == pytest.approx(0.25 * 0.18 + 0.75 * 1.0)


# -- Attractors, k-means and anchors --------------------------------------------------------


def test_attractors_are_weighted_means_of_each_sources_bins() -> None:
    emb = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [9.0, 9.0]]])
    assign = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]])
    weights = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last bin is silent
    assert weighted_means(emb, assign, weights).tolist() == [[[1.0, 0.0], [0.0, 4.0]]]


def test_attractor_masks_sigmoid_and_softmax() -> None:
    emb, attractors = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
    # Dot products 2 and 0.
    torch.testing.assert_close(attractor_masks(emb, attractors, "sigmoid").flatten(),
                               torch.tensor([1 / (1 + math.exp(-2)), 0.5]))
    torch.testing.assert_close(attractor_masks(emb, attractors, "softmax").flatten(),
                               torch.tensor([math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]))


def planted(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three tight blobs of 20 points in 4-D, shuffled, plus 5 far-away silent outliers."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    truth = torch.arange(3).repeat_interleave(20)
    points = centres[truth] + 0.2 * torch.randn(60, 4, generator=g)
    outliers = torch.full((5, 4), 50.0)
    order = torch.randperm(65, generator=g)
    emb = torch.cat([points, outliers])[order]
    weights = torch.cat([torch.ones(60), torch.zeros(5)])[order]
    labels = torch.cat([truth, torch.full((5,), -1)])[order]
    return emb[None], weights[None], labels


def test_kmeans_recovers_a_planted_clustering_and_is_deterministic() -> None:
    emb, weights, truth = planted()
    labels, centroids = kmeans(emb, weights, 3, iterations=10)
    active = truth >= 0
    # Same partition up to renaming: every planted blob maps to one distinct cluster.
    mapping = {int(t): int(labels[0][truth == t].unique().item()) for t in range(3)}
    assert sorted(mapping.values()) == [0, 1, 2]
    assert (labels[0][active] == torch.tensor([mapping[int(t)] for t in truth[active]])).all()
    # Silent outliers neither seed nor move a centroid.
    assert centroids.abs().max() < 4.0
    again_labels, again_centroids = kmeans(emb.clone(), weights.clone(), 3, iterations=10)
    assert torch.equal(labels, again_labels) and torch.equal(centroids, again_centroids)


def test_kmeans_of_a_silent_utterance_still_labels_every_bin() -> None:
    emb, _, _ = planted()
    labels, centroids = kmeans(emb, torch.zeros(1, 65), 3)
    assert labels.shape == (1, 65) and torch.isfinite(centroids).all()


def test_kmeans_without_weights_weighs_every_point_one() -> None:
    emb, _, _ = planted()
    labels, centroids = kmeans(emb, None, 3, iterations=10)
    ones_labels, ones_centroids = kmeans(emb, torch.ones(1, 65), 3, iterations=10)
    assert torch.equal(labels, ones_labels) and torch.equal(centroids, ones_centroids)


def test_kmeans_from_given_centroids_keeps_their_order() -> None:
    # Two blobs at ±1 on the first axis; starting centroids near them, in either order: cluster
    # j is the blob its start was nearest to (Wavesplit relies on this to name the clusters).
    emb = torch.tensor([[[1.0, 0.1], [0.9, 0.0], [-1.0, 0.0], [-1.1, -0.1]]])
    start = torch.tensor([[[0.5, 0.0], [-0.5, 0.0]]])
    labels, centroids = kmeans(emb, None, 2, init=start)
    assert labels.tolist() == [[0, 0, 1, 1]]
    torch.testing.assert_close(centroids, torch.tensor([[[0.95, 0.05], [-1.05, -0.05]]]))
    flipped, _ = kmeans(emb, None, 2, init=start.flip(1))
    assert flipped.tolist() == [[1, 1, 0, 0]]
    with pytest.raises(ValueError, match="init must be"):
        kmeans(emb, None, 3, init=start)


def test_anchors_pick_the_least_similar_attractors() -> None:
    # Two clusters at ±5 on the first axis; anchors 0 and 1 both point at the right one,
    # anchor 2 at the left one. Subsets {0, 2} and {1, 2} recover the clusters; {0, 1} splits
    # the bins between two near-identical anchors and is the most self-similar.
    emb = torch.tensor([[[5.0, 0.0]] * 4 + [[-5.0, 0.0]] * 4])
    anchors = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0]])
    attractors = anchor_attractors(emb, torch.ones(1, 8), anchors, n_src=2)
    got = sorted(attractors[0].round(decimals=3).tolist())
    assert got == [[-5.0, 0.0], [5.0, 0.0]]
    with pytest.raises(ValueError, match="at least n_src = 3 anchors"):
        anchor_attractors(emb, torch.ones(1, 8), anchors[:2], n_src=3)
