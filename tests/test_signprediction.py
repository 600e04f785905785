"""SignPredictionNet: the law of cosines, the sign labels and their weighted cross-entropy on
hand-sized examples, the two networks' separate objectives, and the paper preset's size. (Any length, the cpu
preset's size and learning: test_family_contract.py.)"""

from __future__ import annotations

import math

import torch

from sweep import models
from sweep.models.blocks.phase_sign import (phase_difference_cosine, reconstruct_sources, sign_targets,
                                            weighted_sign_bce)


def lstm_params(inputs: int, hidden: int) -> int:
    """One BLSTM layer in PyTorch: 2 directions x (4H (I + H) weights + 8H biases)."""
    return 2 * (4 * hidden * (inputs + hidden) + 8 * hidden)


# -- A 3-4-5 triangle: X1 = 3, X2 = 4j, Y = 3 + 4j ---------------------------------------------

MIX = torch.tensor([[[3 + 4j]]], dtype=torch.complex64)  # [B=1, F=1, N=1]
SRC = torch.tensor([[[[3 + 0j]]], [[[0 + 4j]]]], dtype=torch.complex64).view(1, 2, 1, 1)


def test_law_of_cosines_gives_the_phase_difference_magnitude() -> None:
    # cos(θ1 − θY) = (25 + 9 − 16) / (2·5·3) = 0.6 ; cos(θ2 − θY) = (25 + 16 − 9) / (2·5·4) = 0.8
    cos = phase_difference_cosine(MIX.abs(), SRC.abs())
    torch.testing.assert_close(cos.flatten(), torch.tensor([0.6, 0.8]))


def test_sign_labels_and_weights() -> None:
    # Im(X1 conj Y) = Im(3 (3 − 4j)) = −12 < 0, Im(X2 conj Y) = Im(4j (3 − 4j)) = +12 > 0;
    # weight |X| |sin|: 3 · 0.8 = 4 · 0.6 = 2.4 (the two sines cancel in the mixture's frame).
    label, weight = sign_targets(MIX, SRC)
    assert label.flatten().tolist() == [0.0, 1.0]
    torch.testing.assert_close(weight.flatten(), torch.tensor([2.4, 2.4]))


def test_true_magnitudes_and_signs_rebuild_the_sources_exactly() -> None:
    rebuilt = reconstruct_sources(MIX, SRC.abs(), torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1), eps=1e-12)
    torch.testing.assert_close(rebuilt, SRC, atol=1e-5, rtol=0)
    # The other sign gives the mirror image about the mixture's direction, not the source.
    wrong = reconstruct_sources(MIX, SRC.abs(), torch.tensor([1.0, -1.0]).view(1, 2, 1, 1), eps=1e-12)
    assert (wrong - SRC).abs().min() > 1.0


def test_weighted_sign_cross_entropy_by_hand() -> None:
    # logits 0 and ln 3 (p = 1/2, 3/4), both labelled positive, weights 1 and 3:
    # (1 · ln 2 + 3 · ln(4/3)) / (1 + 3)
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)
    loss = weighted_sign_bce(logits, torch.ones(1, 2, 1, 1), torch.tensor([1.0, 3.0]).view(1, 2, 1, 1))
    assert math.isclose(loss.item(), (math.log(2) + 3 * math.log(4 / 3)) / 4, rel_tol=1e-6)


def test_the_sign_loss_does_not_train_the_magnitude_network() -> None:
    torch.manual_seed(0)
    model = models.build("signprediction", {**models.FAMILIES["signprediction"].presets["cpu"], "dc_weight": 0.0})
    mixture, sources = torch.randn(1, 400), torch.randn(1, 2, 400)
    model.training_loss(mixture, sources).backward()
    with_sign = [p.grad.clone() for p in model.separator.parameters()]
    model.zero_grad()
    model.sign_weight = 0.0
    model.training_loss(mixture, sources).backward()
    for a, p in zip(with_sign, model.separator.parameters()):
        torch.testing.assert_close(a, p.grad)
    assert all(p.grad.abs().sum() == 0 for p in model.sign_rnn.parameters())


def test_paper_preset_size_matches_the_published_total() -> None:
    # Chimera++: 4 BLSTM x 600 on 129 bins, mask head 1200 -> 2 x 129, DC head 1200 -> 129 x 20;
    # sign network: 3 BLSTM x 600 on 129 x 3 inputs, 1200 -> 2 x 129 logits.
    chimera = lstm_params(129, 600) + 3 * lstm_params(1200, 600) + 1200 * 258 + 258 + 1200 * 2580 + 2580
    sign = lstm_params(387, 600) + 2 * lstm_params(1200, 600) + 1200 * 258 + 258
    assert chimera == 32_866_038  # the 32.9M of Chimera++ in the same table
    family = models.get_family("signprediction")
    with torch.device("meta"):
        model = models.build("signprediction", family.presets["paper"])
    assert model.param_count() == chimera + sign == 55_222_296
    assert abs(model.param_count() / family.published_params["paper"] - 1) < 0.05
    assert round(model.param_count() / 1e6, 1) == 55.2
    assert family.published_systems == ("SignPredictionNet",)


def test_soft_sign_falls_back_to_the_projection_on_the_mixture_phase() -> None:
    # An undecided sign (p = 1/2, expected sign 0) keeps only |X| cos Δ e^{jθ_Y}: here 3 · 0.6
    # and 4 · 0.8 along the mixture's direction (3 + 4j) / 5.
    rebuilt = reconstruct_sources(MIX, SRC.abs(), torch.zeros(1, 2, 1, 1), eps=1e-12)
    expected = torch.tensor([1.8, 3.2]).view(1, 2, 1, 1) * (3 + 4j) / 5
    torch.testing.assert_close(rebuilt, expected.to(torch.complex64), atol=1e-5, rtol=0)
    torch.manual_seed(0)
    model = models.build("signprediction", {**models.FAMILIES["signprediction"].presets["cpu"], "sign_mode": "soft"})
    with torch.no_grad():
        assert torch.isfinite(model(torch.randn(2, 333))).all()
