"""Training recipes (``train:`` keys): optimizer, learning-rate schedule and early stopping.

Each schedule is specified by the learning rates it gives, step by step and epoch by epoch;
a recipe restored from its state trains on exactly as one that never stopped; every recipe key
is a spec key, validated like the others and searchable like the others."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from sweep.spec import SpecError, TrainSpec, load_spec, parse_spec
from sweep.worker.recipes import Recipe
from sweep.worker.train import train_epoch

ROOT = Path(__file__).resolve().parent.parent
BASE = 1e-3


def recipe(batches_per_epoch: int = 4, **train) -> Recipe:
    return Recipe(torch.nn.Linear(3, 1).parameters(), TrainSpec(**{"lr": BASE, **train}), batches_per_epoch)


def epoch_rates(r: Recipe, valid: list[float]) -> list[float]:
    """The learning rate after each epoch's validation score (what the next epoch trains at)."""
    out = []
    for v in valid:
        r.after_epoch(v)
        out.append(r.lr)
    return out


# -- the defaults are today's training ---------------------------------------------------------

def test_the_default_recipe_is_a_fixed_rate_adam_without_early_stopping():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    twin = torch.nn.Linear(3, 1)
    twin.load_state_dict(model.state_dict())
    r = Recipe(model.parameters(), TrainSpec(weight_decay=1e-4), batches_per_epoch=2)
    plain = torch.optim.Adam(twin.parameters(), lr=TrainSpec().lr, weight_decay=1e-4)
    assert type(r.optimizer) is torch.optim.Adam
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    for epoch in range(6):
        for m, opt in ((model, r.optimizer), (twin, plain)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
            opt.step()
        r.after_batch()
        r.after_epoch(-float(epoch))  # never a gain after the first: still no decay, no stop
        assert r.lr == TrainSpec().lr and not r.should_stop
    assert torch.equal(model.weight, twin.weight) and torch.equal(model.bias, twin.bias)


def test_adamw_decouples_weight_decay():
    r = recipe(optimizer="adamw", weight_decay=0.01)
    assert type(r.optimizer) is torch.optim.AdamW and r.optimizer.param_groups[0]["weight_decay"] == 0.01


# -- schedules ---------------------------------------------------------------------------------

def test_plateau_halves_after_exactly_patience_epochs_without_a_gain():
    r = recipe(schedule="plateau", lr_patience=3)
    #               gain  gain  tie   worse worse | gain  worse worse worse
    rates = epoch_rates(r, [1.0, 2.0, 2.0, 1.5, 1.9, 2.5, 2.0, 2.4, 2.1])
    assert rates[:4] == [BASE] * 4  # two epochs without a gain: not yet
    assert rates[4] == BASE / 2  # the third: halved
    assert rates[5:8] == [BASE / 2] * 3  # a gain resets the count
    assert rates[8] == BASE / 4


def test_plateau_counts_again_from_zero_after_a_decay_and_stops_at_the_floor():
    r = recipe(schedule="plateau", lr_patience=1, lr_factor=0.1, min_lr=2e-5)
    assert epoch_rates(r, [5.0, 4.0, 4.0, 4.0]) == [BASE, pytest.approx(1e-4, rel=1e-12), 2e-5, 2e-5]


def test_plateau_start_epoch_ignores_the_epochs_before_it():
    r = recipe(schedule="plateau", lr_patience=2, plateau_start_epoch=5)
    rates = epoch_rates(r, [3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0])
    assert rates[:6] == [BASE] * 6 and rates[6] == BASE / 2  # epochs 6 and 7 are the first two counted


def test_plateau_reproduces_speechbrains_reduce_lr_on_plateau():
    """SpeechBrain's ReduceLROnPlateau(factor=0.5, patience=2, dont_halve_until_epoch=1), as its
    docstring runs it on losses 10, 11, 13, 14, halves at the fourth epoch: its ``patience`` counts
    the epochs it lets pass, ours the epochs after which it halves, so theirs 2 is ours 3
    (speechbrain/nnet/schedulers.py; search_spaces/sepformer.yaml uses this)."""
    r = recipe(schedule="plateau", lr_patience=3, plateau_start_epoch=1)
    assert epoch_rates(r, [-10.0, -11.0, -13.0, -14.0]) == [BASE, BASE, BASE, BASE / 2]


def test_step_multiplies_by_the_factor_every_n_epochs_as_dprnn_and_dptnet_decay():
    r = recipe(schedule="step", lr_factor=0.98, lr_step_epochs=2)
    during = [r.lr] + epoch_rates(r, [0.0] * 9)  # the rate each of epochs 1..10 trains at
    # DPTNet's reference code: 4e-4 * 0.98 ** ((epoch - 1) // 2), for epochs counted from 1
    assert during == [pytest.approx(BASE * 0.98 ** ((e - 1) // 2), rel=1e-12) for e in range(1, 11)]


def test_cosine_falls_from_lr_to_min_lr_over_the_epochs():
    epochs, batches = 3, 4
    r = recipe(batches, schedule="cosine", epochs=epochs, min_lr=1e-5)
    rates = [r.lr]
    for _ in range(epochs * batches):
        r.after_batch()
        rates.append(r.lr)
    assert rates[0] == BASE and rates[-1] == pytest.approx(1e-5, rel=1e-12)
    assert rates[6] == pytest.approx((BASE + 1e-5) / 2, rel=1e-12)  # half way
    assert all(a > b for a, b in zip(rates, rates[1:]))
    r.after_batch()
    assert r.lr == pytest.approx(1e-5, rel=1e-12)  # and stays there


def test_warmup_rises_linearly_and_reaches_lr_at_step_n():
    r = recipe(warmup_steps=4)
    used = []  # the rate each optimizer step uses
    for _ in range(6):
        used.append(r.lr)
        r.after_batch()
    assert used == pytest.approx([BASE / 4, BASE / 2, 3 * BASE / 4, BASE, BASE, BASE], rel=1e-12)


def test_warmup_then_cosine_starts_the_cosine_at_lr_after_the_warmup():
    r = recipe(2, schedule="cosine", epochs=3, warmup_steps=2)
    used = []
    for _ in range(6):
        used.append(r.lr)
        r.after_batch()
    assert used[:3] == pytest.approx([BASE / 2, BASE, BASE], rel=1e-12)
    assert used[4] == pytest.approx(BASE / 2, rel=1e-12)  # half of the 4 steps after the warmup
    assert r.lr == 0.0


# -- early stopping ----------------------------------------------------------------------------

def test_early_stopping_fires_after_patience_epochs_without_a_gain():
    r = recipe(early_stop_patience=3)
    stops = []
    for v in [1.0, 2.0, 1.0, 2.5, 1.5, math.nan, 2.0]:  # NaN is no gain
        r.after_epoch(v)
        stops.append(r.should_stop)
    assert stops == [False] * 6 + [True]
    assert r.lr == BASE  # early stopping alone leaves the rate alone


# -- the training loop and checkpoints ---------------------------------------------------------

class _Tiny(torch.nn.Module):
    """A linear map with the training-loss interface the trainer calls."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)

    def training_loss(self, mix: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.mse_loss(self.proj(mix), sources[:, 0])


def _batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(2, 8, generator=g), torch.randn(2, 1, 8, generator=g), ["a", "b"]) for _ in range(n)]


def test_train_epoch_runs_the_step_hook_after_every_optimizer_step():
    model = _Tiny()
    r = Recipe(model.parameters(), TrainSpec(warmup_steps=10), batches_per_epoch=3)
    seen = []
    train_epoch(model, _batches(5), r.optimizer, 5.0, torch.device("cpu"), 3,
                lambda: (r.after_batch(), seen.append(r.lr)))
    assert seen == pytest.approx([2e-4, 3e-4, 4e-4], rel=1e-12)  # 3 steps (max_batches), each advanced the warmup


RECIPES = {
    "plateau": dict(schedule="plateau", lr_patience=2, warmup_steps=3, early_stop_patience=3),
    "step": dict(schedule="step", lr_factor=0.9, lr_step_epochs=1, optimizer="adamw", weight_decay=0.01),
    "cosine": dict(schedule="cosine", min_lr=1e-5, warmup_steps=2),
}
VALID = [1.0, 0.5, 0.7, 0.2]  # validation dB per epoch: the plateau decays, early stopping counts


def _run(epochs: range, model: _Tiny, r: Recipe, rates: list[float]) -> None:
    for epoch in epochs:
        train_epoch(model, _batches(3), r.optimizer, 5.0, torch.device("cpu"), None,
                    lambda: (r.after_batch(), rates.append(r.lr)))
        r.after_epoch(VALID[epoch])


@pytest.mark.parametrize("name", list(RECIPES))
def test_a_restored_recipe_trains_on_exactly_as_one_that_never_stopped(name):
    train = TrainSpec(epochs=len(VALID), **RECIPES[name])
    torch.manual_seed(0)
    whole = _Tiny()
    start = {k: v.clone() for k, v in whole.state_dict().items()}
    r, whole_rates = Recipe(whole.parameters(), train, 3), []
    _run(range(4), whole, r, whole_rates)

    first = _Tiny()
    first.load_state_dict(start)
    r1, rates = Recipe(first.parameters(), train, 3), []
    _run(range(2), first, r1, rates)
    saved = io.BytesIO()
    torch.save({"model": first.state_dict(), "recipe": r1.state_dict()}, saved)
    _run(range(2), first, r1, [])  # the first run trains on: the saved state must not move
    saved.seek(0)
    state = torch.load(saved, weights_only=True)
    second = _Tiny()
    second.load_state_dict(state["model"])
    r2 = Recipe(second.parameters(), train, 3)
    r2.load_state_dict(state["recipe"])
    _run(range(2, 4), second, r2, rates)

    assert len(set(whole_rates)) > 2  # the schedule moved, so the comparison means something
    assert rates == pytest.approx(whole_rates, rel=0, abs=1e-7)
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(second.state_dict()[k], v, rtol=0, atol=1e-7)
    assert (r2.should_stop, r2.lr) == (r.should_stop, r.lr)


# -- the spec ----------------------------------------------------------------------------------

SPEC = """\
study: tiny
family: upit
params:
  mask_type: AM
train:
  epochs: 2
  lr: 1.0e-3
sampler: grid
"""


def spec_with(train_lines: str) -> str:
    return SPEC.replace("  lr: 1.0e-3\n", "  lr: 1.0e-3\n" + train_lines)


def test_every_recipe_key_is_a_train_key_with_the_documented_default():
    t = TrainSpec()
    assert (t.optimizer, t.schedule, t.lr_factor, t.lr_patience, t.plateau_start_epoch, t.lr_step_epochs,
            t.min_lr, t.warmup_steps, t.early_stop_patience) == ("adam", "none", 0.5, 3, 0, 2, 0.0, 0, 0)
    keys = ("  optimizer: adamw\n  schedule: plateau\n  lr_factor: 0.25\n  lr_patience: 2\n  plateau_start_epoch: 85\n"
            "  lr_step_epochs: 4\n  min_lr: 1.0e-6\n  warmup_steps: 100\n  early_stop_patience: 10\n")
    spec = parse_spec(spec_with(keys), "s.yaml")
    assert spec.train == TrainSpec(
        epochs=2, lr=1e-3, optimizer="adamw", schedule="plateau", lr_factor=0.25, lr_patience=2, plateau_start_epoch=85,
        lr_step_epochs=4, min_lr=1e-6, warmup_steps=100, early_stop_patience=10)


@pytest.mark.parametrize("line, key, words", [
    ("  schedule: linear", "train.schedule", "unknown schedule 'linear' (known: none, plateau, step, cosine)"),
    ("  schedule: {choice: [plateau, exponential]}", "train.schedule", "unknown schedule 'exponential'"),
    ("  schedule: {int: [1, 2]}", "train.schedule", "unknown schedule 1"),
    ("  optimizer: sgd", "train.optimizer", "unknown optimizer 'sgd' (known: adam, adamw)"),
    ("  lr_factor: .nan", "train.lr_factor", "finite"),
    ("  lr_factor: 0", "train.lr_factor", "must be > 0"),
    ("  lr_factor: 1.5", "train.lr_factor", "at most 1.0"),
    ("  lr_patience: 0", "train.lr_patience", "must be > 0"),
    ("  lr_patience: 2.5", "train.lr_patience", "expected a integer"),
    ("  lr_step_epochs: -2", "train.lr_step_epochs", "must be > 0"),
    ("  plateau_start_epoch: -1", "train.plateau_start_epoch", ">= 0"),
    ("  warmup_steps: -1", "train.warmup_steps", ">= 0"),
    ("  warmup_steps: 1000000000", "train.warmup_steps", "at most 100000000"),
    ("  early_stop_patience: -1", "train.early_stop_patience", ">= 0"),
    ("  early_stop_patience: .inf", "train.early_stop_patience", "finite"),
    ("  min_lr: -1.0e-6", "train.min_lr", ">= 0"),
    ("  min_lr: 0.01", "train.min_lr", "at most train.lr"),
    ("  min_lr: {float: [0, 0.002]}", "train.min_lr", "at most train.lr"),
])
def test_bad_recipe_values_are_refused_with_file_line_and_key(line, key, words):
    with pytest.raises(SpecError) as info:
        parse_spec(spec_with(line + "\n"), "s.yaml")
    err = info.value
    assert (err.file, err.line, err.key) == ("s.yaml", 8, key), str(err)
    assert words in err.message, str(err)


def test_a_bad_schedule_stops_launch_with_exit_2_and_one_line(tmp_path):
    bad, db = tmp_path / "bad.yaml", tmp_path / "s.db"
    bad.write_text(spec_with("  schedule: warmup\n"))
    proc = subprocess.run([sys.executable, "-m", "sweep.cli", "launch", str(bad), "--storage", f"sqlite:///{db}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"sweep: {bad}:8: train.schedule: unknown schedule 'warmup' (known: none, plateau, step, cosine)"]
    assert not db.exists()


def test_the_schedule_is_searchable_and_a_trial_gets_the_name_it_sampled():
    spec = parse_spec(spec_with("  schedule: {choice: [none, plateau, cosine]}\n  lr_factor: {float: [0.3, 0.9]}\n")
                      .replace("sampler: grid", "sampler: tpe\nn_trials: 4"), "s.yaml")
    assert spec.space["train.schedule"].to_optuna().choices == ("none", "plateau", "cosine")
    plan = spec.resolve_trial({"train.schedule": "cosine", "train.lr_factor": 0.4})
    assert plan.train.schedule == "cosine" and plan.train.lr_factor == 0.4 and plan.train.epochs == 2
    grid = parse_spec(spec_with("  schedule: {choice: [none, plateau]}\n"), "s.yaml")
    assert grid.grid() == {"train.schedule": ["none", "plateau"]} and grid.n_trials == 2
    assert grid.resolve_trial({"train.schedule": "plateau"}).train.schedule == "plateau"


# -- the shipped specs -------------------------------------------------------------------------

def _budget(name: str, budget: str | None) -> TrainSpec:
    return load_spec(ROOT / "search_spaces" / f"{name}.yaml", budget=budget).train


@pytest.mark.parametrize("path", sorted((ROOT / "search_spaces").glob("*.yaml")), ids=lambda p: p.stem)
def test_the_cpu_budgets_keep_the_fixed_rate_adam(path):
    """The README's measured numbers come from these: no recipe key may change them."""
    budgets = list((yaml.safe_load(path.read_text()) or {}).get("budgets") or [None])
    train = load_spec(path, budget=budgets[0]).train
    assert (train.optimizer, train.schedule, train.warmup_steps, train.early_stop_patience) == ("adam", "none", 0, 0)


def test_the_paper_budgets_carry_their_papers_recipes():
    conv = _budget("convtasnet", "paper")  # Conv-TasNet paper, section III-B
    assert (conv.epochs, conv.segment_s, conv.lr, conv.schedule, conv.lr_factor, conv.lr_patience,
            conv.grad_clip) == (100, 4.0, 1e-3, "plateau", 0.5, 3, 5.0)
    dprnn = _budget("dprnn", "paper")  # DPRNN paper: 0.98 every two epochs, early stop after 10
    assert (dprnn.epochs, dprnn.segment_s, dprnn.lr, dprnn.schedule, dprnn.lr_factor, dprnn.lr_step_epochs,
            dprnn.early_stop_patience, dprnn.grad_clip) == (100, 4.0, 1e-3, "step", 0.98, 2, 10, 5.0)
    sep = _budget("sepformer", "paper")  # SpeechBrain's WSJ0Mix sepformer.yaml
    assert (sep.epochs, sep.batch_size, sep.lr, sep.schedule, sep.lr_factor, sep.lr_patience,
            sep.plateau_start_epoch, sep.grad_clip) == (200, 1, 1.5e-4, "plateau", 0.5, 3, 85, 5.0)
