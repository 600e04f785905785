"""The composable ESD family: registered families are named points of its space (same parameter
count, same output and loss for the same weights), every block combines with every other, and
knobs of unchosen blocks are validated but never change the model, in the registry and in a
spec. (Any length, the cpu preset's size and learning: test_family_contract.py.)"""

from __future__ import annotations

import itertools

import pytest
import torch

from sweep import models
from sweep.models import esd
from sweep.models.blocks.losses import pit_neg_si_snr
from sweep.models.registry import HParam
from sweep.spec import SpecError, parse_spec

SR = 8000
FAMILY = models.get_family("esd")

# Tiny sizes for every block; resolve keeps only the chosen blocks' knobs.
TINY = {"conv.N": 16, "conv.L": 8, "blstm.hidden_size": 8, "blstm.num_layers": 1,
        "tcn.B": 8, "tcn.H": 16, "tcn.X": 2, "tcn.R": 1, "tcn.Sc": 8,
        "dprnn.B": 8, "dprnn.H": 8, "dprnn.K": 8, "dprnn.R": 1,
        "dptnet.B": 8, "dptnet.H": 8, "dptnet.K": 8, "dptnet.R": 1, "dptnet.n_heads": 2,
        "uconv.out_channels": 8, "uconv.in_channels": 16, "uconv.num_blocks": 1, "uconv.downsampling_depth": 2}


def _family_and_esd(family: str, preset: str, n_src: int) -> tuple[models.Separator, models.Separator]:
    """The family's model (seeded) and the esd model of its point, with the family's weights."""
    params = models.get_family(family).presets[preset]
    torch.manual_seed(0)
    ref = models.build(family, params, n_src=n_src, sample_rate=SR).eval()
    ours = models.build("esd", esd.point(family, params), n_src=n_src, sample_rate=SR).eval()
    ours.load_state_dict(esd.esd_state_dict(family, ref.state_dict()), strict=True)
    return ref, ours


# -- Registered families are points of the space -----------------------------------------------


@pytest.mark.parametrize(("family", "preset", "n_src"), [
    ("convtasnet", "paper", 2), ("dprnn", "paper", 2), ("dptnet", "paper", 2), ("upit", "paper", 2),
    ("convtasnet", "cpu", 3), ("dprnn", "cpu", 3),
])
def test_a_familys_point_has_its_parameter_count_output_and_loss(family: str, preset: str, n_src: int) -> None:
    ref, ours = _family_and_esd(family, preset, n_src)
    assert ours.param_count() == ref.param_count()
    torch.manual_seed(1)
    mixture, sources = torch.randn(1, 403), torch.randn(1, n_src, 403)  # 403: no hop divides it
    with torch.no_grad():
        out_ref, out_ours = ref(mixture), ours(mixture)
        loss_ref, loss_ours = ref.training_loss(mixture, sources), ours.training_loss(mixture, sources)
    assert out_ours.shape == (1, n_src, 403)
    assert (out_ours - out_ref).abs().max().item() <= 1e-6
    assert abs(loss_ours.item() - loss_ref.item()) <= 1e-6


def test_the_comparison_can_fail_one_changed_weight_moves_the_output() -> None:
    ref, ours = _family_and_esd("convtasnet", "cpu", 2)
    with torch.no_grad():
        ours.separator.out[1].weight[0, 0] += 0.1  # Conv-TasNet's mask conv, under its esd name
        mixture = torch.randn(1, 403)
        assert (ours(mixture) - ref(mixture)).abs().max().item() > 1e-4


def test_esds_paper_presets_are_conv_tasnets_and_dprnns() -> None:
    assert FAMILY.preset("paper") == esd.point("convtasnet", models.get_family("convtasnet").presets["paper"])
    assert FAMILY.preset("paper_dprnn") == esd.point("dprnn", models.get_family("dprnn").presets["paper"])
    counts = {p: models.build("esd", FAMILY.presets[p]).param_count() for p in ("paper", "paper_dprnn")}
    assert counts == {"paper": 4_984_881, "paper_dprnn": 2_608_001}


def test_configurations_outside_the_space_are_refused() -> None:
    with pytest.raises(ValueError, match=r"convtasnet with \{'norm': 'cLN', 'causal': True\} is outside"):
        esd.point("convtasnet", {"norm": "cLN", "causal": True})
    with pytest.raises(ValueError, match=r"upit with \{'rnn_type': 'lstm'\} is outside"):
        esd.point("upit", {"rnn_type": "lstm"})
    with pytest.raises(ValueError, match="'sepformer' is not a named point of esd"):
        esd.point("sepformer")
    with pytest.raises(KeyError, match="'masker.extra.weight' has no esd name"):
        esd.esd_state_dict("dprnn", {"masker.extra.weight": torch.zeros(1)})


# -- Every block with every other ------------------------------------------------------------


@pytest.mark.parametrize(("encoder", "separator", "head"),
                         list(itertools.product(esd.ENCODERS, esd.SEPARATORS, ("linear", "gated"))))
def test_every_encoder_separator_and_head_combine(encoder: str, separator: str, head: str) -> None:
    torch.manual_seed(0)
    model = models.build("esd", {**TINY, "encoder": encoder, "separator": separator, "mask_head": head,
                                 "activation": "softmax"}, n_src=2, sample_rate=SR)
    mixture = torch.randn(2, 333)
    masks, _ = model.masks(mixture)
    assert masks.shape[:2] == (2, 2)
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]))  # softmax across sources
    assert model(mixture).shape == (2, 2, 333)
    loss = model.training_loss(mixture, torch.randn(2, 2, 333))
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_the_stft_encoder_trains_on_its_mask_type_and_the_conv_encoder_on_si_snr() -> None:
    torch.manual_seed(0)
    mixture, sources = torch.randn(1, 800), torch.randn(1, 2, 800)
    losses = {}
    for mask_type in ("AM", "PSM"):
        torch.manual_seed(0)
        model = models.build("esd", {**TINY, "encoder": "stft", "separator": "tcn", "stft.mask_type": mask_type})
        losses[mask_type] = model.training_loss(mixture, sources).item()
    assert losses["AM"] != losses["PSM"] and min(losses.values()) >= 0  # squared errors of two targets
    conv = models.build("esd", {**TINY, "encoder": "conv", "separator": "tcn"})
    with torch.no_grad():
        assert conv.training_loss(mixture, sources).item() == pit_neg_si_snr(conv(mixture), sources)[0].item()


# -- Conditional knobs -------------------------------------------------------------------------


def test_knobs_of_unchosen_blocks_are_dropped_and_do_not_change_the_model() -> None:
    plain = FAMILY.resolve({"separator": "dprnn"})
    assert FAMILY.resolve({"separator": "dprnn", "tcn.X": 3, "stft.mask_type": "AM"}) == plain
    assert "dprnn.K" in plain and not any(k.startswith(("tcn.", "stft.", "blstm.")) for k in plain)
    counts = {x: models.build("esd", {**TINY, "separator": "dprnn", "tcn.X": x}).param_count() for x in (1, 2)}
    assert counts[1] == counts[2]
    # The same knob counts once its block is chosen.
    counts = {x: models.build("esd", {**TINY, "separator": "tcn", "tcn.X": x}).param_count() for x in (1, 2)}
    assert counts[1] != counts[2]


def test_knobs_of_unchosen_blocks_are_still_validated() -> None:
    with pytest.raises(ValueError, match=r"'tcn.X': 0 is outside the allowed range \[1, 10\]"):
        FAMILY.resolve({"separator": "dprnn", "tcn.X": 0})
    with pytest.raises(ValueError, match=r"no hyperparameter\(s\) \['tcn.Q'\]"):
        FAMILY.resolve({"separator": "tcn", "tcn.Q": 3})


def test_a_knob_must_name_a_block_of_a_selector() -> None:
    fields = dict(name="toy", description="", builder=lambda **kw: None,
                  blocks={"encoder": "e", "separator": "s", "mask head": "m", "decoder": "d"},
                  presets={"paper": {}, "cpu": {}}, selectors=("sep",))
    sep = HParam("sep", "choice", "a", choices=("a", "b"))
    with pytest.raises(ValueError, match=r"knob 'c.size' names no block of the selectors \['sep'\]"):
        esd.ComposedFamily(**fields, hyperparameters={"sep": sep, "c.size": HParam("c.size", "int", 1)})
    with pytest.raises(ValueError, match="selector 'sep' is not a choice hyperparameter"):
        esd.ComposedFamily(**fields, hyperparameters={"sep": HParam("sep", "int", 1)})
    toy = esd.ComposedFamily(**fields, hyperparameters={"sep": sep, "b.size": HParam("b.size", "int", 1)})
    assert toy.condition("b.size") == ("sep", "b") and toy.resolve({"b.size": 2}) == {"sep": "a"}


SPEC = """\
study: esd-knobs
family: esd
params:
  separator: {choice: [tcn, dprnn]}
  conv.relu: {choice: [true, false]}
  tcn.X: {int: [1, 3]}
  dprnn.K: {int: [8, 16]}
sampler: tpe
n_trials: 4
"""


def test_a_spec_searches_namespaced_knobs_and_a_trial_keeps_only_its_blocks() -> None:
    spec = parse_spec(SPEC)
    assert set(spec.searched()) == {"separator", "conv.relu", "tcn.X", "dprnn.K"}
    plan = spec.resolve_trial({"separator": "dprnn", "conv.relu": True, "tcn.X": 2, "dprnn.K": 10})
    assert plan.model_params["dprnn.K"] == 10 and plan.model_params["conv.relu"] is True
    assert not any(k.startswith("tcn.") for k in plan.model_params)


def test_a_spec_error_in_a_namespaced_knob_names_its_line_and_key() -> None:
    with pytest.raises(SpecError, match=r"<spec>:6: params\.tcn\.X: .*'tcn.X': 0 is outside"):
        parse_spec(SPEC.replace("tcn.X: {int: [1, 3]}", "tcn.X: {int: [0, 3]}"))
    with pytest.raises(SpecError, match=r"<spec>:6: params\.tcn\.Q: unknown parameter for family 'esd'"):
        parse_spec(SPEC.replace("tcn.X:", "tcn.Q:"))
