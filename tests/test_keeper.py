"""Which checkpoints a study keeps when trials finish (``checkpoints: {keep, top_k}``), and
where `sweep separate` / `sweep export` find the kept ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep import checkpoints, models
from sweep.checkpoints import BestWeights, ModelCard
from sweep.driver.keeper import CheckpointKeeper
from sweep.objective import Objective
from sweep.spec import parse_spec
from sweep.spec_nodes import SpecError
from sweep.spec_run import CheckpointPolicy
from sweep.store import Store
from tests.conftest import tiny_spec


def _checkpoint(folder: Path) -> str:
    model = models.build("upit", {"num_layers": 1, "hidden_size": 32, "rnn_type": "lstm"})
    best = BestWeights()
    best.offer(1, 1.0, model)
    card = ModelCard("upit", {}, 2, 8000, model.param_count())
    checkpoints.write(folder, card, best, {"epoch": 1, "model": model.state_dict()})
    return str(folder)


@pytest.fixture
def study(tmp_path, tiny_data):
    """A store with six finished trials, each with a checkpoint on disk: complete ones with
    objective values 1..4 (trial 3 best), one pruned, one failed."""
    spec = parse_spec(tiny_spec(tiny_data, masks=("AM",)))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sid = store.ensure_study("tiny", spec).id
    plan = spec.resolve_trial({}, str(tiny_data))
    outcomes = [("complete", 2.0), ("complete", 1.0), ("pruned", None), ("complete", 4.0), ("failed", None),
                ("complete", 3.0)]
    for n, (status, value) in enumerate(outcomes):
        store.trial_queued(sid, n, plan)
        store.update_trial(sid, n, status=status, objective_value=value,
                           checkpoint_uri=_checkpoint(tmp_path / "runs" / f"trial_{n}" / "checkpoint_000000"))
    return store, sid


def _kept(store: Store, sid: int) -> list[int]:
    return [r.number for r in store.trials(sid) if r.checkpoint_uri and Path(r.checkpoint_uri).is_dir()]


def test_best_keeps_the_top_k_complete_trials_by_the_objective_and_deletes_the_rest(study):
    store, sid = study
    CheckpointKeeper(store, sid, CheckpointPolicy("best", 2), Objective()).settle(5)
    assert _kept(store, sid) == [3, 5]
    gone = [r for r in store.trials(sid) if r.number not in (3, 5)]
    assert all(r.checkpoint_uri is None and r.checkpoint_bytes is None for r in gone)
    row = store.trial(sid, 5)  # the finished trial's kept checkpoint holds its weights only
    assert checkpoints.read_state(row.checkpoint_uri) is None and row.checkpoint_bytes == checkpoints.size_bytes(
        row.checkpoint_uri)


def test_best_follows_the_objectives_direction(study):
    store, sid = study
    CheckpointKeeper(store, sid, CheckpointPolicy("best", 1), Objective("train_loss", "min")).settle(0)
    assert _kept(store, sid) == [1]


def test_all_keeps_every_finished_trials_weights_and_none_deletes_each_as_it_finishes(study):
    store, sid = study
    CheckpointKeeper(store, sid, CheckpointPolicy("all", 1), Objective()).settle(0)
    assert _kept(store, sid) == [0, 1, 2, 3, 4, 5]
    CheckpointKeeper(store, sid, CheckpointPolicy("none", 3), Objective()).settle(3)
    assert 3 not in _kept(store, sid)


def test_a_running_trials_checkpoint_is_never_deleted(study):
    store, sid = study
    store.update_trial(sid, 1, status="running")  # continued after a resume: it needs its state
    store.update_trial(sid, 4, status="interrupted")
    CheckpointKeeper(store, sid, CheckpointPolicy("best", 1), Objective()).settle(3)
    assert _kept(store, sid) == [1, 3, 4]
    assert checkpoints.read_state(store.trial(sid, 1).checkpoint_uri) is not None


def test_kept_checkpoint_finds_the_best_or_a_named_trial_and_says_why_not_in_one_line(study):
    store, sid = study
    CheckpointKeeper(store, sid, CheckpointPolicy("best", 2), Objective()).settle(5)
    assert store.kept_checkpoint("tiny").number == 3
    assert store.kept_checkpoint("tiny", 5).number == 5
    with pytest.raises(LookupError, match=r"trial 0 of study tiny \(complete\) has no kept checkpoint; kept ones: 3, 5"):
        store.kept_checkpoint("tiny", 0)
    with pytest.raises(LookupError, match="has no trial 9"):
        store.kept_checkpoint("tiny", 9)
    with pytest.raises(LookupError, match="no study named 'other'"):
        store.kept_checkpoint("other")


@pytest.mark.parametrize("text, message", [
    ("checkpoints: {keep: some}", "must be one of best, all, none"),
    ("checkpoints: {top_k: 0}", r"must be in \[1, 1000\]"),
    ("checkpoints: {top_k: .nan}", "expected a int"),
    ("checkpoints: {every: 2}", "unknown key"),
])
def test_a_bad_checkpoints_section_is_refused_with_its_line(tiny_data, text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(tiny_spec(tiny_data) + text + "\n")


def test_the_default_policy_keeps_the_best_three(tiny_data):
    assert parse_spec(tiny_spec(tiny_data)).checkpoints == CheckpointPolicy("best", 3)
    assert parse_spec(tiny_spec(tiny_data) + "checkpoints: {keep: all}\n").checkpoints == CheckpointPolicy("all", 3)
