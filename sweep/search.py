"""Optuna inside Ray Tune: the searcher, the samplers, and recovery of an interrupted study.

Ray's ``OptunaSearch`` is used as it is, with two corrections that a benchmark needs:

- a trial that ASHA stopped early is told to Optuna as PRUNED (Ray tells it COMPLETE);
- every ``ask`` is announced to the driver, which writes the ``sweep_trial`` row at once, so
  the result rows match Optuna's trials one to one even if the driver dies a moment later.

Optuna's heartbeat does not run under ask/tell, so after a crash the trials left RUNNING are
ours to close: ``recover`` marks them FAIL and queues their parameters again.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from sweep.spec import Spec

STALE_REASON = "the driver stopped while this trial was running (found at resume); its configuration runs again"


class _GridSampler(optuna.samplers.GridSampler):
    """GridSampler without ``study.stop()``: Tune, not Optuna's optimize loop, counts the trials,
    and stop() outside optimize() raises."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: D401
        return None


def make_sampler(spec: Spec) -> optuna.samplers.BaseSampler:
    if spec.sampler == "grid":
        return _GridSampler(spec.grid(), seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed)


def optuna_storage(url: str) -> optuna.storages.RDBStorage:
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


class SweepSearch(OptunaSearch):
    """OptunaSearch that reports asks to the driver and tells early-stopped trials as PRUNED."""

    def __init__(self, *args, on_ask: Callable[[str, optuna.Trial, dict], None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._on_ask = on_ask

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        if config is not None and self._on_ask is not None:
            self._on_ask(trial_id, self._ot_trials[trial_id], dict(self._ot_trials[trial_id].params))
        return config

    def optuna_trial(self, trial_id: str) -> optuna.Trial:
        return self._ot_trials[trial_id]

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._completed_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        value = result.get(self.metric) if result else None
        if error:
            state, values = TrialState.FAIL, None
        elif result and result.get("final"):
            state, values = TrialState.COMPLETE, value
        else:  # stopped by the scheduler before its last epoch
            state, values = TrialState.PRUNED, None
        if state == TrialState.COMPLETE and (value is None or value != value):
            state, values = TrialState.FAIL, None  # a NaN objective is a failure, not a result
        self._ot_study.tell(ot_trial, values, state=state)
        self._completed_trials.add(trial_id)


def recover(study: optuna.Study) -> list[int]:
    """Close trials left RUNNING by a dead driver (as FAIL) and queue every failed configuration
    that no finished or queued trial covers. Returns the numbers of the trials it closed."""
    closed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_system_attr(t._trial_id, "fail_reason", STALE_REASON)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        closed.append(t.number)
    trials = study.get_trials(deepcopy=False)
    covered = {_key(t.params) for t in trials
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING)}
    # WAITING trials were enqueued but never asked: their params live in system attrs.
    covered |= {_key(t.system_attrs.get("fixed_params", {})) for t in trials if t.state == TrialState.WAITING}
    for t in trials:
        if t.state == TrialState.FAIL and t.params and _key(t.params) not in covered:
            study.enqueue_trial(t.params)
            covered.add(_key(t.params))
    return closed


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)
