"""Deep CASA: the paper preset's size, both objectives by hand (frame-level PIT of the complex
L1 distance, the shared affinity loss with unit weights), and the sequential grouping's
clustering: the shared k-means plus a per-frame order undoes frame-wise swaps. (Any length, the cpu preset, learning:
test_family_contract.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.blocks.clustering import kmeans
from sweep.models.blocks.dense_unet import DenseUNet
from sweep.models.blocks.embedding_losses import affinity_loss
from sweep.models.deepcasa import complex_frame_pit_l1, frame_orders


def test_paper_preset_is_within_5_percent_of_published() -> None:
    family = models.get_family("deepcasa")
    with torch.device("meta"):
        count = models.build("deepcasa", family.presets["paper"]).param_count()
    assert count == 12_655_275
    assert abs(count - family.published_params["paper"]) / 12_800_000 < 0.05
    assert family.published_systems == ("DeepCASA",) and family.inference == "clustering"


def test_frame_level_pit_l1_by_hand() -> None:
    # B = 1, S = 2, F = 1, N = 2 frames; references 1 and 2j in both frames.
    ref = torch.tensor([[1 + 0j, 1 + 0j], [2j, 2j]]).view(1, 2, 1, 2)
    # Frame 0: outputs in reference order, off by 0.5 (real) and 1 (imag): identity costs 1.5.
    # Frame 1: outputs swapped and exact: the swap costs 0.
    est = torch.tensor([[1.5 + 0j, 2j], [3j, 1 + 0j]]).view(1, 2, 1, 2)
    loss, perm = complex_frame_pit_l1(est, ref)
    assert perm[0].tolist() == [[0, 1], [1, 0]]
    assert abs(loss.item() - (1.5 + 0.0) / (2 * 2)) < 1e-6  # summed over frames, / (N S)


def test_affinity_loss_by_hand() -> None:
    # DeepCASA weighs every (frame, output) item 1, so the shared loss divides by M^2.
    # Two items, one-hot labels of different speakers; embeddings both [1, 0].
    v = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    ones = torch.ones(1, 2)
    # V Vᵀ = all ones, A Aᵀ = identity: they differ in the two off-diagonal entries -> 2 / M^2.
    assert abs(affinity_loss(v, a, ones).item() - 2 / 4) < 1e-6
    assert affinity_loss(a, a, ones).item() == pytest.approx(0.0, abs=1e-6)


def test_clustering_undoes_frame_wise_swaps() -> None:
    # Speaker embeddings e0, e1; outputs swap speakers on odd frames.
    e = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    frames = [e if n % 2 == 0 else e.flip(0) for n in range(6)]
    torch.manual_seed(0)
    v = torch.stack(frames)[None] + 0.01 * torch.randn(1, 6, 2, 3)  # [B, N, S, D]
    _, centroids = kmeans(v.flatten(1, 2), None, 2, iterations=10)
    order = frame_orders(v, centroids)[0]  # [N, S]
    speaker_of_first = order[0, 0].item()  # cluster naming is arbitrary; consistency is the point
    for n in range(6):
        assert order[n, 0].item() == (speaker_of_first if n % 2 == 0 else 1 - speaker_of_first)


@pytest.mark.parametrize(("frames", "bins"), [(1, 1), (7, 129), (16, 33)])
def test_dense_unet_keeps_any_frame_and_bin_count(frames: int, bins: int) -> None:
    net = DenseUNet(2, 4, channels=4, growth=2, layers=2, depth=2)
    assert net(torch.randn(1, 2, frames, bins)).shape == (1, 4, frames, bins)


def test_forward_scales_with_the_input() -> None:
    torch.manual_seed(0)
    model = models.build("deepcasa", models.get_family("deepcasa").presets["cpu"]).eval()
    x = torch.randn(1, 500)
    with torch.no_grad():
        torch.testing.assert_close(model(0.1 * x), 0.1 * model(x), rtol=1e-3, atol=1e-5)
