"""TasNet: preset sizes against the published ones, the four-layer stack with its identity
skip, gain equivariance from the per-segment normalisation, and softmax masks. (Any length,
the cpu preset, learning and the LSTM variant's causality: test_family_contract.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.tasnet import TasNet

SR = 8000
TINY = {"N": 64, "L": 16, "rnn_type": "lstm", "num_layers": 2, "hidden_size": 64}


def build(params: dict, n_src: int = 2) -> TasNet:
    torch.manual_seed(0)
    return models.build("tasnet", params, n_src=n_src, sample_rate=SR)


# -- Size --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("preset", "expected"), [("paper", 31_094_000), ("paper_blstm", 23_094_000)])
def test_paper_presets_are_within_3_percent_of_published(preset: str, expected: int) -> None:
    # 4 x 1000 LSTM (causal) and 4 x 500-per-direction BLSTM: see models.tasnet's docstring.
    family = models.get_family("tasnet")
    model = models.build("tasnet", family.presets[preset])
    count, published = model.param_count(), family.published_params[preset]
    assert count == expected  # pinned: an architecture change must be a deliberate one
    assert abs(count - published) / published < 0.03
    assert model.is_causal == (preset == "paper")


def test_paper_preset_follows_the_paper() -> None:
    params = models.get_family("tasnet").preset("paper")
    assert (params["N"], params["L"], params["num_layers"], params["activation"]) == (500, 40, 4, "softmax")


# -- Shapes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rnn_type", ["lstm", "blstm"])
def test_four_layers_with_the_identity_skip_keep_every_length(rnn_type: str) -> None:
    model = build({**TINY, "rnn_type": rnn_type, "L": 40, "num_layers": 4, "hidden_size": 16}, n_src=3)
    for length in (1, 17, 8001):
        with torch.no_grad():
            out = model(torch.randn(2, length))
        assert out.shape == (2, 3, length)
        assert torch.isfinite(out).all()


def test_silent_input_gives_silent_finite_output() -> None:
    with torch.no_grad():
        out = build(TINY)(torch.zeros(1, 100))
    assert torch.equal(out, torch.zeros(1, 2, 100))


def test_output_scales_with_the_mixture_gain() -> None:
    # Per-segment L2 normalisation: the network sees the same input, the norm rescales.
    model = build(TINY)
    x = torch.randn(2, 999)
    with torch.no_grad():
        torch.testing.assert_close(model(30.0 * x), 30.0 * model(x), rtol=1e-4, atol=1e-5)


def test_softmax_masks_sum_to_one_and_weights_are_non_negative() -> None:
    model = build(TINY, n_src=3)
    with torch.no_grad():
        w, norm = model.encoder(model.segment(torch.randn(2, 300)))
        masks = model.separator(w)
    assert w.shape == (2, 19, 64) and norm.shape == (2, 19, 1) and (w >= 0).all()
    torch.testing.assert_close(masks.sum(dim=1), torch.ones(2, 19, 64))
