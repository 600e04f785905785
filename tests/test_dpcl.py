"""DPCL++: the paper preset's size, k-means inference (binary masks, deterministic), the
enhancement network, and training on the active bins only. (Any length, S = 3, the cpu
preset's size and learning: test_family_contract.py; the losses: test_clustering_losses.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.dpcl import DPCL

SR = 8000
TINY = {"num_layers": 1, "hidden_size": 16, "embedding_dim": 4, "enhancement_layers": 0}


def tiny(n_src: int = 2, **overrides) -> DPCL:
    torch.manual_seed(0)
    return models.build("dpcl", {**TINY, **overrides}, n_src=n_src, sample_rate=SR)


def blstm(inputs: int, hidden: int) -> int:
    """One PyTorch BLSTM layer: 2 directions x 4 gates x H x (I + H + 2 biases)."""
    return 2 * 4 * hidden * (inputs + hidden + 2)


def test_paper_preset_size() -> None:
    # Trunk 4 x 300 BLSTM on F = 129 bins, embedding 600 -> 129 x 40; enhancement 2 x 300 BLSTM
    # on (mixture, estimate) = 258 inputs, linear 600 -> 129. Published (Conv-TasNet table): 13.6M.
    trunk = blstm(129, 300) + 3 * blstm(600, 300) + 600 * 129 * 40 + 129 * 40
    enhancement = blstm(258, 300) + blstm(600, 300) + 600 * 129 + 129
    family = models.get_family("dpcl")
    with torch.device("meta"):
        paper = models.build("dpcl", family.presets["paper"])
        plain = models.build("dpcl", {**family.presets["paper"], "enhancement_layers": 0})
    assert paper.param_count() == trunk + enhancement == 14_216_289
    assert plain.param_count() == trunk == 10_629_960
    assert abs(paper.param_count() - 13_600_000) <= 0.05 * 13_600_000  # +4.5 %
    assert family.published_params == {"paper": 13_600_000} and family.published_systems == ("DPCL++",)
    assert family.inference == "clustering" and not family.has_oracle_assignment


def test_embeddings_are_unit_norm_per_bin() -> None:
    model = tiny()
    emb, weights, mix_spec = model.embed(torch.randn(2, 700))
    assert emb.shape == (2, 129 * mix_spec.shape[-1], 4) and weights.shape == emb.shape[:2]
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(emb.shape[:2]))


@pytest.mark.parametrize("n_src", [2, 3])
def test_kmeans_masks_partition_the_bins_and_repeat(n_src: int) -> None:
    model = tiny(n_src).eval()
    mixture = torch.randn(1, 900)
    masks, _ = model.masks(mixture)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]))
    assert torch.equal(model(mixture), model(mixture))  # deterministic k-means


def test_enhancement_network_gives_soft_masks_and_trains() -> None:
    model = tiny(3, enhancement_layers=1, enhancement_hidden=16)
    mixture, sources = torch.randn(2, 333), torch.randn(2, 3, 333)
    masks, _ = model.masks(mixture)
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]))
    assert ((masks > 0) & (masks < 1)).all()
    assert model(torch.randn(1, 1)).shape == (1, 3, 1)
    model.training_loss(mixture, sources).backward()
    assert model.enhancement.out.weight.grad.abs().sum() > 0
    assert model.embedding.linear.weight.grad.abs().sum() > 0


def test_training_ignores_silent_bins() -> None:
    # Digital silence in the second half: those bins are below -40 dB and get weight 0, so the
    # loss does not change when the (silent) references there are relabelled.
    model = tiny()
    torch.manual_seed(1)
    sources = torch.randn(1, 2, 2000)
    sources[..., 1000:] = 0.0
    mixture = sources.sum(dim=1)
    _, weights, mix_spec = model.embed(mixture)
    frames = weights.view(1, 129, -1).amax(dim=1)[0]
    assert frames[:10].all() and not frames[-5:].any()
    loss = model.training_loss(mixture, sources)
    sources[0, 1, 1000:] = 1e-9  # flips the ideal label of the silent bins only
    assert model.training_loss(mixture, sources).item() == pytest.approx(loss.item(), rel=1e-6)
