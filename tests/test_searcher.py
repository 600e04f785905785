"""The Tune searcher that holds the Optuna study: ask -> plan -> row, and how each ending is told.

These run the searcher on Optuna's and Tune's public API without starting Ray, so a Ray or
Optuna release that changes what it relies on fails here, in seconds."""

from __future__ import annotations

import math
import pickle

import optuna
import pytest
from optuna.trial import TrialState

from sweep.driver.searcher import OptunaSearcher, open_study, optuna_storage, outcome, recover
from sweep.spec import parse_spec
from tests.test_spec import GOOD


@pytest.mark.parametrize("result, error, state, value", [
    ({"epoch": 2, "final": True, "valid_si_snri": 3.5}, False, TrialState.COMPLETE, 3.5),
    ({"epoch": 1, "valid_si_snri": 3.5}, False, TrialState.PRUNED, None),  # stopped by the scheduler
    ({"epoch": 2, "final": True, "valid_si_snri": math.nan}, False, TrialState.FAIL, None),
    (None, True, TrialState.FAIL, None),
])
def test_how_a_tune_ending_is_told_to_optuna(result, error, state, value):
    assert outcome(result, error, "valid_si_snri") == (state, value)


@pytest.fixture
def searcher(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    spec = parse_spec(GOOD, "spec.yaml")
    storage = optuna_storage(url)
    asked: list = []
    s = OptunaSearcher(open_study(spec, storage, spec.study), storage, spec, "/data/x",
                       on_ask=lambda tid, number, plan: asked.append((tid, number, plan)))
    return s, asked, url


def test_each_ask_is_announced_with_the_plan_the_worker_will_run(searcher):
    s, asked, _ = searcher
    config = s.suggest("t1")
    assert asked == [("t1", config["number"], config["plan"])]
    plan = config["plan"]
    assert plan.family == "upit" and plan.data_root == "/data/x" and plan.train.lr == plan.params["train.lr"]
    assert plan.params["mask_type"] in ("AM", "PSM") and "hidden_size" in plan.model_params


def test_early_stopped_trials_are_pruned_and_failures_carry_their_reason(searcher):
    s, _, url = searcher
    for tid in ("a", "b", "c"):
        s.suggest(tid)
    s.on_trial_result("a", {"epoch": 1, "valid_si_snri": 1.0})
    s.on_trial_complete("a", {"epoch": 1, "valid_si_snri": 1.0})
    s.on_trial_complete("b", {"epoch": 2, "final": True, "valid_si_snri": 2.0})
    s.on_trial_complete("c", error=True)  # told only when the driver knows why
    study = optuna.load_study(study_name="tiny", storage=url)
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.RUNNING]
    assert study.trials[0].intermediate_values == {1: 1.0}
    s.tell_failure("c", "ValueError: bad")
    s.close_unfinished("stopped")  # nothing left: c was told with its own reason
    study = optuna.load_study(study_name="tiny", storage=url)
    assert study.trials[2].state == TrialState.FAIL and study.trials[2].system_attrs["fail_reason"] == "ValueError: bad"


def test_recover_keeps_what_a_stopped_driver_left_running_for_the_resume_to_continue(searcher):
    s, _, url = searcher
    config = s.suggest("a")  # the driver dies here: the trial stays RUNNING
    storage = optuna_storage(url)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert recover(study, storage, carry=1) == [config["number"]]
    study = optuna.load_study(study_name="tiny", storage=url)
    assert [t.state for t in study.trials] == [TrialState.RUNNING]  # nothing queued: it continues itself


def test_recover_fails_and_queues_again_the_running_trials_the_study_no_longer_needs(searcher):
    s, _, url = searcher
    config = s.suggest("a")
    storage = optuna_storage(url)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert recover(study, storage, carry=0) == []
    study = optuna.load_study(study_name="tiny", storage=url)
    assert study.trials[0].state == TrialState.FAIL and "driver stopped" in study.trials[0].system_attrs["fail_reason"]
    assert study.trials[1].state == TrialState.WAITING and study.trials[1].system_attrs["fixed_params"] == config[
        "plan"].params


def test_a_carried_trial_is_handed_out_first_as_the_same_optuna_trial_and_told_as_it(searcher):
    from sweep.driver.searcher import Carried

    s, _, url = searcher
    first = s.suggest("a")  # the driver dies; a new driver carries the trial over
    storage = optuna_storage(url)
    study = optuna.load_study(study_name="tiny", storage=storage)
    spec = parse_spec(GOOD, "spec.yaml")
    again = OptunaSearcher(study, storage, spec, "/d", on_ask=lambda *a: None,
                           carried=[Carried(first["number"], first["plan"].params, "/runs/ckpt")])
    config = again.suggest("b")
    assert config["number"] == first["number"] and config["restore"] == "/runs/ckpt"
    assert config["plan"].params == first["plan"].params
    again.on_trial_result("b", {"epoch": 3, "valid_si_snri": 1.5})
    again.on_trial_complete("b", {"epoch": 4, "final": True, "valid_si_snri": 2.0, "selected": {"valid_si_snri": 2.5}})
    (trial,) = optuna.load_study(study_name="tiny", storage=url).trials
    assert trial.state == TrialState.COMPLETE and trial.value == 2.5  # the tested weights' epoch
    assert trial.intermediate_values == {3: 1.5}
    assert again.suggest("c")["number"] == first["number"] + 1  # then new asks


def test_tunes_copy_of_the_searcher_holds_no_storage_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'secret-folder-name.db'}"
    spec = parse_spec(GOOD, "spec.yaml")
    storage = optuna_storage(url)
    s = OptunaSearcher(open_study(spec, storage, spec.study), storage, spec, "/d", on_ask=lambda *a: None)
    assert b"secret-folder-name" not in pickle.dumps(s)


def test_a_row_left_running_after_optuna_was_told_takes_optunas_state_at_resume(tmp_path):
    """The driver died between Optuna's tell and the row's last write (the fault campaign found it)."""
    from sweep.driver.launch import open_study as open_for_resume
    from sweep.store import Store

    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = parse_spec(GOOD, "spec.yaml")
    store = Store(url)
    study_id = store.ensure_study(spec.study, spec).id
    storage = optuna_storage(url)
    s = OptunaSearcher(open_study(spec, storage, spec.study), storage, spec, "/d",
                       on_ask=lambda tid, number, plan: store.trial_queued(study_id, number, plan))
    for tid in ("done", "cut"):
        s.suggest(tid)
    s.on_trial_complete("done", {"epoch": 2, "final": True, "valid_si_snri": 2.0})  # told; the row never heard
    _, _, finished, carried = open_for_resume(store, study_id, spec, spec.study, url, None)
    assert finished == 1 and [c.number for c in carried] == [1]  # "cut" continues
    assert [(r.number, r.status) for r in store.trials(study_id)] == [(0, "complete"), (1, "running")]


def test_an_optuna_trial_asked_just_before_the_driver_died_gets_its_row_at_resume(tmp_path):
    from sweep.driver.launch import open_study as open_for_resume
    from sweep.store import Store

    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = parse_spec(GOOD, "spec.yaml")
    store = Store(url)
    study_id = store.ensure_study(spec.study, spec).id
    storage = optuna_storage(url)
    s = OptunaSearcher(open_study(spec, storage, spec.study), storage, spec, "/d", on_ask=lambda *a: None)
    config = s.suggest("a")  # asked in Optuna's tables; killed before our row was written
    _, _, _, carried = open_for_resume(store, study_id, spec, spec.study, url, None)
    (row,) = store.trials(study_id)
    assert [c.number for c in carried] == [row.number] == [config["number"]]  # it gets its row and runs
    assert row.status == "running" and row.params["mask_type"] == config["plan"].params["mask_type"]
