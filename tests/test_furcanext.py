"""FurcaNeXt (FurcaPy): the paper preset's size, the utterance-level SDR objective by hand, and
the gated pyramid block. (Any length, the cpu preset, learning: test_family_contract.py.)"""

from __future__ import annotations

import math

import torch

from sweep import models
from sweep.models.blocks.gated_tcn import GatedDilatedConv, GatedPyramidBlock
from sweep.models.furcanext import pit_neg_sdr, sdr_matrix


def test_paper_preset_is_within_5_percent_of_published() -> None:
    family = models.get_family("furcanext")
    with torch.device("meta"):
        count = models.build("furcanext", family.presets["paper"]).param_count()
    assert count == 52_086_913
    assert abs(count - family.published_params["paper"]) / 51_400_000 < 0.05
    assert family.published_systems == ("FurcaNeXt",)


def test_sdr_by_hand() -> None:
    ref = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])  # [B=1, S=2, T=2]
    est = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    scores = sdr_matrix(est, ref)
    # ref 0 vs est 0: |r|^2 = 4, |r - e|^2 = 1 -> 10 log10 4; ref 1 vs est 1: 1 / 1 -> 0 dB.
    assert math.isclose(scores[0, 0, 0].item(), 10 * math.log10(4), rel_tol=1e-5)
    assert abs(scores[0, 1, 1].item()) < 1e-5
    # ref 0 vs est 1: 4 / (1 + 1); ref 1 vs est 0: 1 / (1 + 1).
    assert math.isclose(scores[0, 0, 1].item(), 10 * math.log10(2), rel_tol=1e-5)
    assert math.isclose(scores[0, 1, 0].item(), 10 * math.log10(0.5), rel_tol=1e-5)
    # Best order: identity, mean (6.02 + 0) / 2; swapped would be (3.01 - 3.01) / 2 = 0.
    assert math.isclose(pit_neg_sdr(est, ref).item(), -10 * math.log10(4) / 2, rel_tol=1e-5)
    assert math.isclose(pit_neg_sdr(est.flip(1), ref).item(), -10 * math.log10(4) / 2, rel_tol=1e-5)


def test_sdr_is_not_scale_invariant() -> None:
    ref = torch.tensor([[[1.0, -1.0, 2.0]]])
    # Twice the reference: |r|^2 / |r|^2 = 0 dB, where SI-SNR would be perfect.
    assert abs(sdr_matrix(2 * ref, ref).item()) < 1e-5


def test_a_one_scale_pyramid_is_one_gated_conv() -> None:
    torch.manual_seed(0)
    block = GatedPyramidBlock(B=4, H=6, Sc=5, kernel_sizes=(3,), dilation=2)
    x = torch.randn(2, 4, 11)
    with torch.no_grad():
        u = block.expand(x)
        gated = block.pyramid[0]
        assert isinstance(gated, GatedDilatedConv)
        expected = torch.tanh(gated.filter(u)) * torch.sigmoid(gated.gate(u))
        residual, skip = block(x)
        torch.testing.assert_close(skip, block.skip_out(block.norm(expected)))
        assert residual.shape == x.shape


def test_dynamic_weights_mix_the_scales_convexly() -> None:
    torch.manual_seed(0)
    block = GatedPyramidBlock(B=4, H=6, Sc=5, kernel_sizes=(3, 5, 7), dilation=1)
    with torch.no_grad():
        block.weights.weight.zero_()
        block.weights.bias.copy_(torch.tensor([0.0, 0.0, 50.0]))  # all weight on kernel 7
        x = torch.randn(1, 4, 20)
        u = block.expand(x)
        only_7 = block.skip_out(block.norm(block.pyramid[2](u)))
        torch.testing.assert_close(block(x)[1], only_7, rtol=1e-4, atol=1e-5)
