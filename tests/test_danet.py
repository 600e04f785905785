"""DANet and ADANet: the paper presets' sizes, where each gets its attractors (the ideal mask and
the references' order at training, k-means at test; anchors at both), and deterministic
inference. (Any length, S = 3, the cpu presets and learning: test_family_contract.py; the
losses, k-means and the anchor choice on tiny examples: test_clustering_losses.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.danet import ADANet, DANet

SR = 8000
TINY = {"num_layers": 1, "hidden_size": 16, "embedding_dim": 4}


def tiny(name: str, n_src: int = 2, **overrides) -> DANet:
    torch.manual_seed(0)
    return models.build(name, {**TINY, **overrides}, n_src=n_src, sample_rate=SR)


def test_paper_preset_sizes() -> None:
    # 4 x 300 BLSTM on 129 bins (2 directions x 4 gates x 300 x (inputs + 300 + 2 biases)),
    # linear 600 -> 129 x K, K = 20; ADANet adds 6 anchors of K. Published: 9.1M both.
    lstm = 2400 * (129 + 302) + 3 * 2400 * (600 + 302)
    head = 600 * 129 * 20 + 129 * 20
    counts = {}
    for name in ("danet", "adanet"):
        family = models.get_family(name)
        with torch.device("meta"):
            counts[name] = models.build(name, family.presets["paper"]).param_count()
        assert abs(counts[name] - 9_100_000) <= 0.01 * 9_100_000
        assert family.inference == "clustering" and not family.has_oracle_assignment
    assert lstm + head == 9_079_380
    assert counts == {"danet": lstm + head, "adanet": lstm + head + 6 * 20}
    assert models.get_family("danet").published_systems == ("DANet",)
    assert models.get_family("adanet").published_systems == ("ADANet",)


def test_both_losses_are_invariant_to_the_order_of_the_references() -> None:
    # DANet's attractor s is the mean embedding of source s's bins, so its masks follow the
    # references' order and its loss needs no PIT: swapping the references swaps the attractors
    # with them. ADANet's attractors follow the anchors; its loss gets the invariance from PIT.
    torch.manual_seed(0)
    sources = torch.randn(2, 2, 1200)
    mixture = sources.sum(dim=1)
    for name in ("danet", "adanet"):
        model = tiny(name)
        straight = model.training_loss(mixture, sources).item()
        swapped = model.training_loss(mixture, sources.flip(1)).item()
        assert swapped == pytest.approx(straight, rel=1e-5)


def test_danet_inference_uses_kmeans_attractors(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny("danet").eval()
    mixture = torch.randn(1, 1500)
    out = model(mixture)
    assert torch.equal(out, model(mixture))  # deterministic
    # Handing forward the ideal-mask attractors instead changes the output: inference does not
    # see the references.
    sources = torch.randn(1, 2, 1500)
    assign, _ = model.ideal_assignment(sources.sum(1), sources)
    emb, weights, _ = model.embed(sources.sum(1))
    ideal = model.training_attractors(emb, weights, assign)
    monkeypatch.setattr(model, "inference_attractors", lambda e, w: ideal)
    assert not torch.allclose(model(sources.sum(1)), out)


def test_sigmoid_masks_are_independent_softmax_masks_sum_to_one() -> None:
    mixture = torch.randn(1, 800)
    for name, activation in (("danet", "sigmoid"), ("adanet", "softmax"), ("danet", "softmax")):
        model = tiny(name, 3, activation=activation)
        emb, weights, mix_spec = model.embed(mixture)
        masks = model.masked(emb, model.inference_attractors(emb, weights), mix_spec)
        assert masks.shape == (1, 3, *mix_spec.shape[-2:])
        sums = masks.sum(dim=1)
        if activation == "softmax":
            torch.testing.assert_close(sums, torch.ones_like(sums))
        else:
            assert (masks > 0).all() and (masks < 1).all()


def test_adanet_trains_its_anchors_and_needs_enough_of_them() -> None:
    model = tiny("adanet", 3)
    assert isinstance(model, ADANet) and model.anchors.shape == (6, 4)
    model.training_loss(torch.randn(1, 700), torch.randn(1, 3, 700)).backward()
    assert model.anchors.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="n_anchors must be at least n_src = 3"):
        tiny("adanet", 3, n_anchors=2)
