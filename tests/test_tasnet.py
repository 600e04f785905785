"""TasNet: preset sizes against the published ones, any input length, causality of the LSTM
variant, gain equivariance from the per-segment normalisation, and that a tiny model learns."""

from __future__ import annotations


import pytest
import torch

import models
import models.tasnet  # noqa: F401  (registers the family)
from models.tasnet import TasNet
from sweep.metrics import pit_si_snri_torch
from tests.signals import harmonic_voice_and_noise, train_on_one_mixture

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


@pytest.mark.parametrize("length", [1, 17, 8001])
@pytest.mark.parametrize("n_src", [2, 3])
@pytest.mark.parametrize("rnn_type", ["lstm", "blstm"])
def test_forward_returns_b_s_t_for_any_length(length: int, n_src: int, rnn_type: str) -> None:
    model = build({**TINY, "rnn_type": rnn_type, "L": 40, "num_layers": 4, "hidden_size": 16}, n_src)
    with torch.no_grad():
        out = model(torch.randn(2, length))
    assert out.shape == (2, n_src, length)
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


# -- Causality ---------------------------------------------------------------------------------


def _change_before(model: TasNet, t0: int, length: int = 1000) -> float:
    """Largest output change before ``t0 - L`` when only input samples ``>= t0`` change."""
    torch.manual_seed(1)
    x = torch.randn(2, length)
    y = x.clone()
    y[:, t0:] = torch.randn(2, length - t0)
    with torch.no_grad():
        a, b = model(x), model(y)
    return (a - b)[..., : t0 - model.L].abs().max().item()


def test_lstm_variant_ignores_the_future() -> None:
    model = build({**TINY, "num_layers": 4, "hidden_size": 16})
    assert model.is_causal
    assert _change_before(model, t0=517) <= 1e-6


def test_blstm_variant_sees_the_future() -> None:
    model = build({**TINY, "rnn_type": "blstm", "num_layers": 4, "hidden_size": 16})
    assert not model.is_causal
    assert _change_before(model, t0=517) > 1e-4


# -- Learning ----------------------------------------------------------------------------------


def test_tiny_model_overfits_one_mixture() -> None:
    mixture, sources = harmonic_voice_and_noise()
    model = build(TINY)
    with torch.no_grad():
        before = pit_si_snri_torch(model(mixture), sources, mixture).item()
    after, _ = train_on_one_mixture(model, mixture, sources, lr=1e-2, max_steps=150, every=150)
    assert before < 5.0
    assert after > 10.0, f"SI-SNRi {before:.1f} -> {after:.1f} dB after 150 steps"
