"""A search-space file is validated before anything runs; every error names file, line and key."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sweep.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
study: tiny
family: upit
params:
  mask_type: {choice: [AM, PSM]}
  activation: sigmoid
  hidden_size: {int: [32, 96], step: 32}
train:
  epochs: 2
  lr: {log_float: [1.0e-4, 1.0e-2]}
sampler: tpe
n_trials: 3
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str) -> SpecError:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    return info.value


def test_a_good_spec_parses_into_fixed_and_searched_domains(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.study == "tiny" and spec.family == "upit" and spec.n_trials == 3
    assert set(spec.searched()) == {"mask_type", "hidden_size", "train.lr"}
    assert spec.fixed()["activation"] == "sigmoid"
    assert spec.fixed()["train.epochs"] == 2 and spec.train.epochs == 2
    assert spec.space["hidden_size"].grid_values() == [32, 64, 96]


def test_the_shipped_upit_spec_is_the_lecture_grid():
    spec = load_spec(ROOT / "search_spaces" / "upit.yaml")
    assert spec.sampler == "grid" and spec.n_trials == 12
    assert spec.grid() == {"mask_type": ["AM", "PSM", "NPSM"], "activation": ["softmax", "sigmoid", "relu", "tanh"]}


@pytest.mark.parametrize("text, line, key, words", [
    (GOOD.replace("sampler: tpe", "sampler: tpe\nepochs: 3"), 11, "epochs", "unknown key"),
    (GOOD.replace("  epochs: 2", "  epochs: two"), 8, "train.epochs", "expected a integer"),
    (GOOD.replace("{choice: [AM, PSM]}", "{choice: []}"), 4, "params.mask_type.choice", "empty domain"),
    (GOOD.replace("family: upit", "family: wavenet"), 2, "family", "unknown family 'wavenet'"),
    (GOOD.replace("  activation: sigmoid", "  activaton: sigmoid"), 5, "params.activaton", "unknown parameter"),
    (GOOD.replace("activation: sigmoid", "activation: swish"), 5, "params.activation", "'swish' is not one of"),
    (GOOD.replace("{int: [32, 96], step: 32}", "{int: [96, 32]}"), 6, "params.hidden_size.int", "empty domain"),
    (GOOD.replace("sampler: tpe", "sampler: cmaes"), 10, "sampler", "unknown sampler"),
    (GOOD.replace("{log_float: [1.0e-4, 1.0e-2]}", "{log_float: [0, 1.0e-2]}"), 9, "train.lr.log_float", "low > 0"),
    (GOOD.replace("sampler: tpe", "sampler: grid"), 9, "train.lr", "grid sampler needs choice or int"),
    (GOOD.replace("n_trials: 3", "n_trials: -1"), 11, "n_trials", "must be > 0"),
    (GOOD.replace("  mask_type: {choice: [AM, PSM]}", "  mask_type: [AM, PSM]"), 4, "params.mask_type", "write {choice: [...]}"),
])
def test_each_malformed_spec_gets_one_message_with_file_line_and_key(tmp_path, text, line, key, words):
    err = error_of(tmp_path, text)
    assert err.line == line, str(err)
    assert err.key == key, str(err)
    assert words in err.message, str(err)
    assert f":{line}: {key}: " in str(err)


def test_invalid_yaml_is_reported_with_its_line(tmp_path):
    err = error_of(tmp_path, "study: x\nfamily: upit\nparams: {mask: [AM\n")
    assert err.line is not None and "not valid YAML" in err.message


def test_a_grid_must_not_disagree_with_n_trials(tmp_path):
    text = GOOD.replace("sampler: tpe", "sampler: grid").replace("  lr: {log_float: [1.0e-4, 1.0e-2]}\n", "")
    err = error_of(tmp_path, text)
    assert err.key == "n_trials" and "grid of 6 points" in err.message


def test_the_cli_exits_2_with_one_line_and_writes_no_database(tmp_path):
    bad = write(tmp_path, GOOD.replace("family: upit", "family: wavenet"))
    db = tmp_path / "s.db"
    proc = subprocess.run([sys.executable, "-m", "sweep.cli", "launch", str(bad), "--storage", f"sqlite:///{db}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown family 'wavenet'" in lines[0] and f"{bad}:2: family:" in lines[0]
    assert not db.exists()


def test_a_missing_spec_file_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sweep.cli", "launch", str(tmp_path / "nope.yaml"),
                           "--storage", f"sqlite:///{tmp_path / 's.db'}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no such file" in proc.stderr


VARIANTS = """\
study: cross
variants:
  small: {family: upit, preset: cpu, params: {hidden_size: 32, num_layers: 1}}
  large: {family: upit, preset: cpu}
train: {epochs: 1}
sampler: grid
"""


def test_variants_make_a_cross_family_grid_of_complete_parameter_sets(tmp_path):
    spec = load_spec(write(tmp_path, VARIANTS))
    assert spec.grid() == {"variant": ["small", "large"]} and spec.n_trials == 2
    plan = spec.resolve_trial({"variant": "small", "train.epochs": 2})
    params = plan.model_params
    assert plan.family == "upit" and params["hidden_size"] == 32 and params["num_layers"] == 1
    assert params["rnn_type"] == "blstm"  # the rest comes from the cpu preset
    assert plan.train.epochs == 2 and isinstance(plan.train.epochs, int)
    assert spec.resolve_trial({"variant": "large"}).model_params["hidden_size"] == 128


def test_a_trial_plan_is_complete_typed_and_seeded_by_its_replicate(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    plan = spec.resolve_trial({"mask_type": "PSM", "hidden_size": 64, "train.lr": 2e-3}, data_root="/data/x")
    from sweep.models import get_family

    assert set(plan.model_params) == set(get_family(spec.family).hyperparameters)  # every key, defaults filled
    assert plan.train.lr == 2e-3 and plan.train.epochs == spec.train.epochs
    assert plan.data_root == "/data/x" and plan.n_src == spec.n_src and plan.sample_rate == spec.dataset.sample_rate
    replicas = load_spec(write(tmp_path, "study: r\nfamily: upit\nparams: {}\nn_trials: 3\nseed: 7\n"))
    assert [replicas.resolve_trial({"replicate": i}).seed for i in range(3)] == [7, 8, 9]


def test_the_objective_may_be_any_epoch_metric_and_defaults_to_its_natural_direction(tmp_path):
    spec = load_spec(write(tmp_path, GOOD + "objective: train_loss\n"))
    assert (spec.objective.metric, spec.objective.mode) == ("train_loss", "min")
    spec = load_spec(write(tmp_path, GOOD + "objective: {metric: valid_si_snri, mode: min}\n"))
    assert spec.objective.mode == "min"
    with pytest.raises(SpecError, match="unknown metric 'test_sdri'"):
        load_spec(write(tmp_path, GOOD + "objective: test_sdri\n"))


@pytest.mark.parametrize("old, new, line, key, words", [
    ("family: upit, preset: cpu}", "family: wavenet}", 4, "variants.large.family", "unknown family"),
    ("preset: cpu}", "preset: huge}", 4, "variants.large.preset", "no preset 'huge'"),
    ("hidden_size: 32,", "hidden_sise: 32,", 3, "variants.small.params.hidden_sise", "unknown parameter"),
    ("num_layers: 1}", "num_layers: 9}", 3, "variants.small.params.num_layers", "outside the allowed range"),
    ("study: cross\n", "study: cross\nfamily: upit\n", 2, "family", "either `variants` or"),
])
def test_bad_variants_are_reported_at_their_line(tmp_path, old, new, line, key, words):
    err = error_of(tmp_path, VARIANTS.replace(old, new))
    assert (err.line, err.key) == (line, key), str(err)
    assert words in err.message


def test_a_budget_overrides_the_top_level_and_renames_the_study(tmp_path):
    text = GOOD + "budgets:\n  cpu: {}\n  paper:\n    train: {epochs: 50}\n    n_trials: 7\n"
    path = write(tmp_path, text)
    cpu, paper = load_spec(path), load_spec(path, budget="paper")
    assert (cpu.study, cpu.train.epochs, cpu.n_trials) == ("tiny", 2, 3)
    assert (paper.study, paper.train.epochs, paper.n_trials) == ("tiny-paper", 50, 7)
    assert "train.lr" in paper.searched()  # keys the budget does not name are kept
    with pytest.raises(SpecError, match="no budget 'gpu'"):
        load_spec(path, budget="gpu")


def test_boolean_training_keys_take_booleans_only(tmp_path):
    assert load_spec(write(tmp_path, GOOD.replace("  epochs: 2", "  epochs: 2\n  compile: true"))).train.compile
    err = error_of(tmp_path, GOOD.replace("  epochs: 2", "  epochs: 2\n  compile: 1"))
    assert err.key == "train.compile" and "expected a boolean" in err.message


def test_a_gpu_budget_on_a_machine_without_one_exits_2_before_writing(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    spec = write(tmp_path, GOOD.replace("n_trials: 3", "n_trials: 3\nresources: {cpu: 1, gpu: 1}"))
    db = tmp_path / "s.db"
    proc = subprocess.run([sys.executable, "-m", "sweep.cli", "launch", str(spec), "--storage", f"sqlite:///{db}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    # the wording is the driver's ("asks for 1 GPU(s)", "asks for 1 CPU and 1 GPU"); the exit and the line are ours
    assert proc.returncode == 2 and re.search(r"asks for .*1 GPU", proc.stderr), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not db.exists()
