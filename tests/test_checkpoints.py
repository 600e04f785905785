"""Checkpoints of a trial: written every epoch, continue exactly, test the best-validation weights."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from sweep import checkpoints
from sweep.spec import parse_spec
from tests.conftest import tiny_spec


def _plan(data: Path, epochs: int = 4, extra: str = ""):
    spec = parse_spec(tiny_spec(data, masks=("PSM",), epochs=epochs, extra_train=extra))
    return spec.resolve_trial({}, str(data))


class Recorder:
    """A report function that keeps every report and copies each checkpoint folder (as Tune does)."""

    def __init__(self, root: Path) -> None:
        self.root, self.reports, self.folders = root, [], []

    def __call__(self, metrics: dict, folder: Path | None = None) -> None:
        self.reports.append(dict(metrics))
        if folder is not None:
            kept = self.root / f"checkpoint_{len(self.folders):03d}"
            shutil.copytree(folder, kept)
            self.folders.append(kept)


def _finals(rec: Recorder) -> list[tuple]:
    return [(r["condition"], r["assignment"], r["si_snri"], r["sdri"]) for r in rec.reports[-1]["results"]]


def test_every_epoch_reports_a_checkpoint_with_the_state_and_the_best_weights(tmp_path, tiny_data):
    from sweep.worker.trial import run_plan

    rec = Recorder(tmp_path)
    run_plan(_plan(tiny_data, epochs=2), rec, checkpointing=True, identity={"study": "s", "trial": 7})
    assert [r["epoch"] for r in rec.reports] == [1, 2] and len(rec.folders) == 2
    card = checkpoints.read_card(rec.folders[-1])
    assert (card.family, card.study, card.trial, card.n_src) == ("upit", "s", 7, 2)
    state, best = checkpoints.read_state(rec.folders[-1])
    assert state["epoch"] == 2 and set(state["rng"]) >= {"python", "numpy", "torch", "loader"}
    assert best.epoch == rec.reports[-1]["best_epoch"]
    valid = {r["epoch"]: r["valid_si_snri"] for r in rec.reports}
    assert best.valid_si_snri == pytest.approx(max(valid.values()))
    model, card = checkpoints.load_separator(str(rec.folders[-1]))
    assert model.param_count() == card.param_count == rec.reports[-1]["param_count"]


def test_a_trial_continued_from_its_epoch_2_checkpoint_ends_exactly_as_an_uninterrupted_one(tmp_path, tiny_data):
    from sweep.worker.trial import run_plan

    plan = _plan(tiny_data, epochs=4)
    whole = Recorder(tmp_path / "whole")
    run_plan(plan, whole, checkpointing=True)
    cut = Recorder(tmp_path / "cut")
    run_plan(dataclasses.replace(plan, train=dataclasses.replace(plan.train, epochs=2)), cut, checkpointing=True)
    assert cut.reports[-1]["final"]  # a 2-epoch budget's end: the state still holds epoch 2
    rest = Recorder(tmp_path / "rest")
    run_plan(plan, rest, checkpointing=True, resume_from=cut.folders[-1])
    assert [r["epoch"] for r in rest.reports] == [3, 4]  # epochs 1-2 are not redone
    for a, b in zip(whole.reports[2:], rest.reports):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["valid_si_snri"] == pytest.approx(b["valid_si_snri"], abs=1e-6)
    for a, b in zip(_finals(whole), _finals(rest)):
        assert a[:2] == b[:2] and a[2] == pytest.approx(b[2], abs=1e-6) and a[3] == pytest.approx(b[3], abs=1e-6)


def test_the_test_set_is_scored_with_the_best_validation_weights_not_the_last(tmp_path, tiny_data, monkeypatch):
    from sweep.worker import trial

    valid_by_epoch = iter([1.0, 5.0, 2.0])  # epoch 2 is the best on validation
    monkeypatch.setattr(trial, "validate", lambda *a, **k: next(valid_by_epoch))
    seen = {}

    def fake_evaluate(model, *args, **kwargs):
        seen["weights"] = {k: v.clone() for k, v in model.state_dict().items()}
        return []

    monkeypatch.setattr(trial, "evaluate", fake_evaluate)
    rec = Recorder(tmp_path)
    trial.run_plan(_plan(tiny_data, epochs=3), rec, checkpointing=True)
    final = rec.reports[-1]
    assert final["best_epoch"] == 2 and final["selected"]["valid_si_snri"] == 5.0
    best = checkpoints.read_best(rec.folders[-1])
    assert best.epoch == 2
    assert all(torch.equal(seen["weights"][k], best.model[k]) for k in best.model)
    last_state, _ = checkpoints.read_state(rec.folders[-1])
    assert any(not torch.equal(last_state["model"][k], best.model[k]) for k in best.model)


def test_without_checkpointing_the_report_takes_only_the_metrics(tiny_data):
    from sweep.worker.trial import run_plan

    reports = []
    run_plan(_plan(tiny_data, epochs=1), reports.append)
    assert reports[-1]["final"] and reports[-1]["best_epoch"] == 1


def test_a_kept_checkpoint_without_training_state_still_loads_its_weights(tmp_path, tiny_data):
    from sweep.worker.trial import run_plan

    rec = Recorder(tmp_path)
    run_plan(_plan(tiny_data, epochs=1), rec, checkpointing=True)
    folder = rec.folders[-1]
    before = checkpoints.size_bytes(str(folder))
    checkpoints.strip_training_state(str(folder))
    assert checkpoints.read_state(folder) is None and checkpoints.size_bytes(str(folder)) < before
    model, card = checkpoints.load_separator(str(folder))
    assert not model.training and card.family == "upit"
    checkpoints.delete(str(folder))
    assert not folder.exists() and checkpoints.size_bytes(str(folder)) == 0
