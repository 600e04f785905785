"""The contract every registered separator family keeps, checked for each entry of
``sweep.models.FAMILIES``: a family is tested here the moment it registers.

- forward of any input length returns ``[B, S, T]``, exactly ``T`` samples, for 2 and 3 sources,
  and the training loss is a finite scalar;
- shape errors raise ``ValueError`` naming the expected shape;
- the ``cpu`` preset is small;
- a ``cpu`` model learns to separate one mixture in a few dozen steps;
- a causal variant (``Family.causal_params``) ignores the input more than ``lookahead()``
  samples ahead, and the default variant, being non-causal, does not;
- the declared capabilities agree with the models: ``has_oracle_assignment`` with
  ``Separator.oracle_assignment``, ``mask_knobs`` with the hyperparameters, ``oracle_stft``
  with an invertible STFT;
- ``Separator.assignments`` (what the test set scores) is bit for bit ``forward`` and
  ``oracle_assignment``, however a family shares work between them.

Family-specific behaviour (published sizes, torchaudio equality, mask ranges, ...) stays in
the per-family test files.
"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from tests.signals import SR, gliding_voice_and_noise, train_on_one_mixture

NAMES = sorted(models.FAMILIES)
CAUSAL = [name for name in NAMES if models.FAMILIES[name].causal_params is not None]
MASKED = [name for name in NAMES if models.FAMILIES[name].mask_knobs is not None]
STFT = [name for name in NAMES if models.FAMILIES[name].oracle_stft is not None]

CPU_PRESET_MAX_PARAMS = 1_000_000  # the largest today is TasNet's 740,864
LEARN_TARGET_DB = 6.0  # SI-SNRi; the unprocessed mixture scores 0 dB
LEARN_MAX_STEPS = 100  # the slowest family today needs ~40 (Adam, lr 3e-3)


def build_cpu(name: str, n_src: int = 2, **overrides) -> models.Separator:
    torch.manual_seed(0)
    params = {**models.FAMILIES[name].presets["cpu"], **overrides}
    return models.build(name, params, n_src=n_src, sample_rate=SR)


@pytest.mark.parametrize("n_src", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_forward_returns_b_s_t_for_any_length(name: str, n_src: int) -> None:
    model = build_cpu(name, n_src)
    for length in (1, 17, 333, 1001):  # odd lengths: no stride or hop divides them
        torch.manual_seed(length)
        mixture = torch.randn(2, length)
        with torch.no_grad():
            out = model(mixture)
        assert out.shape == (2, n_src, length), f"{name}: {length} samples in, {tuple(out.shape)} out"
        assert torch.isfinite(out).all()
        loss = model.training_loss(mixture, torch.randn(2, n_src, length))
        assert loss.dim() == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("name", NAMES)
def test_shape_errors_name_the_expected_shape(name: str) -> None:
    model = build_cpu(name)
    with pytest.raises(ValueError, match=r"mixture must be \[B, T\]"):
        model(torch.randn(100))
    with pytest.raises(ValueError, match=r"mixture must be \[B, T\]"):
        model(torch.randn(1, 1, 100))
    with pytest.raises(ValueError, match=r"sources must be \[B, S, T\]"):
        model.training_loss(torch.randn(2, 100), torch.randn(2, 3, 100))
    with pytest.raises(ValueError, match=r"sources must be \[B, S, T\]"):
        model.training_loss(torch.randn(2, 100), torch.randn(2, 2, 99))


@pytest.mark.parametrize("name", NAMES)
def test_cpu_preset_is_small(name: str) -> None:
    count = build_cpu(name).param_count()
    assert 1_000 < count < CPU_PRESET_MAX_PARAMS, f"{name}: the cpu preset has {count:,} parameters"


@pytest.mark.parametrize("name", NAMES)
def test_cpu_model_learns_to_separate_one_mixture(name: str) -> None:
    mixture, sources = gliding_voice_and_noise()
    model = build_cpu(name)
    best, steps = train_on_one_mixture(model, mixture, sources, lr=3e-3, max_steps=LEARN_MAX_STEPS, every=10,
                                       target_db=LEARN_TARGET_DB)
    assert best > LEARN_TARGET_DB, f"{name}: SI-SNRi {best:.1f} dB after {steps} steps"


def _output_change(model: models.Separator, t0: int, length: int = 2000) -> torch.Tensor:
    """``|Δ output|`` per sample (max over batch and sources) when only inputs ``>= t0`` change."""
    torch.manual_seed(1)
    x = torch.randn(2, length)
    y = x.clone()
    y[:, t0:] = torch.randn(2, length - t0)
    with torch.no_grad():
        return (model.eval()(x) - model(y)).abs().amax(dim=(0, 1))


@pytest.mark.parametrize("name", CAUSAL)
def test_causal_variant_ignores_the_input_beyond_its_lookahead(name: str) -> None:
    fam = models.FAMILIES[name]
    causal = build_cpu(name, **fam.causal_params)
    lookahead = causal.lookahead()
    assert lookahead is not None and lookahead >= 0
    t0 = 1200
    assert t0 - lookahead > 100, f"{name}: lookahead {lookahead} too long for this check"
    diff = _output_change(causal, t0)
    assert diff[: t0 - lookahead].max().item() <= 1e-6
    assert diff[t0:].min().item() > 0  # the changed part does move
    # The check can fail: the default, non-causal variant sees the change early.
    default = build_cpu(name)
    if default.lookahead() is None:
        assert _output_change(default, t0)[: t0 - lookahead].max().item() > 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_assignments_are_exactly_forward_and_oracle_assignment(name: str) -> None:
    model = build_cpu(name).eval()
    torch.manual_seed(0)
    sources = torch.randn(2, 2, 1001)
    mixture = sources.sum(dim=1)
    with torch.no_grad():
        both = model.assignments(mixture, sources)
        expected = {"default": model(mixture)}
        optimal = model.oracle_assignment(mixture, sources)
    if optimal is not None:
        expected["optimal"] = optimal
    assert list(both) == list(expected)
    for assignment, out in expected.items():  # shared work must not change a bit of the scores
        assert torch.equal(both[assignment], out), f"{name}: {assignment} differs"


@pytest.mark.parametrize("name", NAMES)
def test_oracle_assignment_matches_the_declaration(name: str) -> None:
    fam = models.FAMILIES[name]
    model = build_cpu(name)
    torch.manual_seed(0)
    sources = torch.randn(2, 2, 1001)
    out = model.oracle_assignment(sources.sum(dim=1), sources)
    assert (out is not None) == fam.has_oracle_assignment
    if out is not None:
        assert out.shape == sources.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_mask_knobs_are_choice_hyperparameters(name: str) -> None:
    fam = models.FAMILIES[name]
    paper = fam.preset("paper")
    if fam.mask_knobs is None:
        assert fam.mask_and_activation(paper) == (None, None)
        return
    for knob in (fam.mask_knobs.mask, fam.mask_knobs.activation):
        hp = fam.hyperparameters[knob]
        assert hp.kind == "choice" and len(hp.choices) > 1, f"{name}: {knob} is not a choice"
    assert fam.mask_and_activation(paper) == (paper[fam.mask_knobs.mask], paper[fam.mask_knobs.activation])
    assert fam.mask_and_activation({}) == (fam.hyperparameters[fam.mask_knobs.mask].default,
                                           fam.hyperparameters[fam.mask_knobs.activation].default)


@pytest.mark.parametrize("name", STFT)
def test_oracle_stft_is_an_invertible_pair_with_a_label(name: str) -> None:
    encoder, decoder, label = models.FAMILIES[name].oracle_stft(SR)
    assert isinstance(label, str) and label
    torch.manual_seed(0)
    x = torch.randn(2, 3, 1001)
    spec = encoder(x)
    assert spec.is_complex() and spec.shape[:2] == (2, 3)
    assert (decoder(spec, 1001) - x).abs().max().item() < 1e-5


def test_every_family_declares_what_the_harness_reads() -> None:
    # The lists the contract tests above are parametrised over must not silently be empty.
    assert NAMES and CAUSAL and MASKED and STFT
    assert "upit" in MASKED and "upit" in STFT and models.FAMILIES["upit"].has_oracle_assignment
