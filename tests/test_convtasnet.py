"""Conv-TasNet: published size, equivalence with torchaudio's implementation, its framing
branches, softmax masks, and which variants are *not* causal. (Any length, the cpu preset's
size, learning and the causal variant's causality: test_family_contract.py.)"""

from __future__ import annotations

import pytest
import torch
from torchaudio.models import ConvTasNet as TorchaudioConvTasNet

from sweep import models
from sweep.models.convtasnet import ConvTasNet
from sweep.models.convtasnet_torchaudio import load_torchaudio_weights, torchaudio_kwargs

SR = 8000
TINY = {"N": 32, "L": 16, "B": 16, "H": 32, "P": 3, "X": 3, "R": 1, "Sc": 16}


def build(params: dict, n_src: int = 2) -> ConvTasNet:
    torch.manual_seed(0)
    return models.build("convtasnet", params, n_src=n_src, sample_rate=SR)


# -- Size ------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["paper", "paper_causal"])
def test_paper_presets_are_within_3_percent_of_published(preset: str) -> None:
    family = models.get_family("convtasnet")
    count = models.build("convtasnet", family.presets[preset]).param_count()
    published = family.published_params[preset]
    assert count == 4_984_881  # 5.1M published; the gap is -2.3 %
    assert abs(count - published) / published < 0.03


def test_paper_config_has_torchaudios_parameter_count() -> None:
    ours = models.build("convtasnet", models.get_family("convtasnet").presets["paper"])
    kwargs = torchaudio_kwargs(ours)
    # The paper's best system is torchaudio's default apart from the mask activation.
    assert kwargs == {"num_sources": 2, "enc_kernel_size": 16, "enc_num_feats": 512, "msk_kernel_size": 3,
                      "msk_num_feats": 128, "msk_num_hidden_feats": 512, "msk_num_layers": 8,
                      "msk_num_stacks": 3, "msk_activate": "sigmoid"}
    theirs = TorchaudioConvTasNet(**kwargs)
    assert ours.param_count() == sum(p.numel() for p in theirs.parameters())


# -- torchaudio as an independent reference -----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "n_src"),
    [
        (TINY, 2),
        ({**TINY, "R": 2, "activation": "relu"}, 3),
        ({"N": 24, "L": 5, "B": 16, "H": 16, "P": 3, "X": 2, "R": 2, "Sc": 16}, 2),  # odd L: other framing branch
    ],
)
def test_outputs_equal_torchaudio_with_its_weights(params: dict, n_src: int) -> None:
    ours = build(params, n_src)
    theirs = TorchaudioConvTasNet(**torchaudio_kwargs(ours))
    with torch.no_grad():  # move every tensor off its init value, so a mis-mapped one shows
        for p in theirs.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert ours.param_count() == sum(p.numel() for p in theirs.parameters())
    load_torchaudio_weights(ours, theirs)
    for length in (1, 17, 1001):
        x = torch.randn(2, length)
        with torch.no_grad():
            expected = theirs(x.unsqueeze(1))
            got = ours(x)
        assert got.shape == expected.shape == (2, n_src, length)
        assert (got - expected).abs().max().item() < 1e-5


def test_torchaudio_loading_refuses_other_configurations() -> None:
    ours = build(TINY)
    with pytest.raises(ValueError, match="causal"):
        torchaudio_kwargs(build({**TINY, "norm": "cLN", "causal": True}))
    with pytest.raises(ValueError, match="Sc=32 != B=16"):
        torchaudio_kwargs(build({**TINY, "Sc": 32}))
    with pytest.raises(ValueError, match="softmax"):
        torchaudio_kwargs(build({**TINY, "activation": "softmax"}))
    with pytest.raises(ValueError, match="enc_num_feats"):
        load_torchaudio_weights(ours, TorchaudioConvTasNet(**{**torchaudio_kwargs(ours), "enc_num_feats": 48}))
    with pytest.raises(ValueError, match="do not fit"):
        load_torchaudio_weights(ours, TorchaudioConvTasNet(**{**torchaudio_kwargs(ours), "msk_num_hidden_feats": 48}))


# -- Shapes, masks, causality ----------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 17, 8001])
def test_odd_window_and_even_depthwise_kernel_keep_every_length(length: int) -> None:
    # Odd L takes the other framing branch of ConvTasNet.pad; even P the asymmetric padding of
    # the depthwise conv, left-only when causal.
    model = build({**TINY, "L": 7, "P": 4, "norm": "cLN", "causal": True}, n_src=3)
    with torch.no_grad():
        out = model(torch.randn(2, length))
    assert out.shape == (2, 3, length)
    assert torch.isfinite(out).all()


def test_softmax_masks_sum_to_one_across_speakers() -> None:
    model = build({**TINY, "activation": "softmax"}, n_src=3)
    with torch.no_grad():
        masks = model.masker(model.encoder(model.pad(torch.randn(2, 500))))
    assert masks.shape[:3] == (2, 3, TINY["N"])
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]))


def _change_after(model: ConvTasNet, t0: int, length: int = 2000) -> float:
    """Largest output change before ``t0 - L`` when only input samples ``>= t0`` change."""
    torch.manual_seed(1)
    x = torch.randn(2, length)
    y = x.clone()
    y[:, t0:] = torch.randn(2, length - t0)
    with torch.no_grad():
        a, b = model.eval()(x), model(y)
    return (a - b)[..., : t0 - model.kernel_size].abs().max().item()


def test_causal_needs_both_left_padding_and_cln() -> None:
    # Causal padding with gLN, or cLN with centred padding, still leaks the future.
    assert build({**TINY, "X": 4, "norm": "cLN", "causal": True}).lookahead() == TINY["L"]
    for extra in ({"causal": True}, {"norm": "cLN"}):
        model = build({**TINY, **extra})
        assert not model.is_causal and model.lookahead() is None
        assert _change_after(model, t0=1203) > 1e-4


# -- Registry ----------------------------------------------------------------------------------


def test_paper_causal_preset_is_the_causal_variant_and_norms_are_validated() -> None:
    family = models.get_family("convtasnet")
    assert family.preset("paper_causal") == family.resolve({**family.presets["paper"], **family.causal_params})
    with pytest.raises(ValueError, match=r"'norm'.*'LN' is not one of"):
        models.build("convtasnet", {"norm": "LN"})
