"""Optuna inside Ray Tune, on both libraries' public APIs.

:class:`OptunaSearcher` is a Tune ``Searcher`` that holds the Optuna study and does ask/tell
itself (Ray's own ``OptunaSearch`` would need two corrections reached through its private
fields, which a Ray release may rename):

- a trial that ASHA stopped early is told to Optuna as PRUNED (Ray's tells it COMPLETE);
- every ask is announced to the driver, which writes the ``sweep_trial`` row at once, so the
  result rows match Optuna's trials one to one even if the driver dies a moment later.

The config handed to Tune is ``{"number": n, "plan": TrialPlan}``: the worker runs the plan the
driver resolved and wrote, typed, never re-deriving it.

Optuna's heartbeat does not run under ask/tell, so after a crash (or a signal) the trials left
RUNNING are ours: a resume hands each to Tune again as the same Optuna trial
(:class:`Carried`), continuing from its checkpoint; :func:`recover` queues the configurations
of failed trials again.
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sweep.objective import Objective
from sweep.plan import TrialPlan
from sweep.scoring.registry import summary_metrics
from sweep.spec import Spec, SpecError
from sweep.store.engine import engine_kwargs, make_engine

STALE_REASON = "the driver stopped while this trial was running (found at resume); its configuration runs again"
STATUS_REASON = "status_reason"  # the Optuna user attribute with a trial's one-line ending (outcome_attrs)

OnAsk = Callable[[str, int, TrialPlan], None]


@dataclass(frozen=True)
class Carried:
    """A trial a stopped driver left running, handed out again before any new ask: the same
    Optuna trial ``number`` with its ``params``, continuing from ``restore`` (a checkpoint URI,
    None to start over) after epoch ``after_epoch``."""

    number: int
    params: dict[str, Any]
    restore: str | None
    after_epoch: int = 0

    def describe(self) -> str:
        return f"from its checkpoint after epoch {self.after_epoch}" if self.restore else "from the start"


class _GridSampler(optuna.samplers.GridSampler):
    """GridSampler without ``study.stop()``: Tune, not Optuna's optimize loop, counts the trials,
    and stop() outside optimize() raises."""

    def after_trial(self, study, trial, state, values) -> None:  # noqa: D401
        return None


def make_sampler(spec: Spec) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded. TPE and NSGA-II handle several objectives; TPE also learns
    from infeasible trials (their ``Trial.set_constraint`` values), NSGA-II ranks only complete ones."""
    if spec.sampler == "grid":
        return _GridSampler(spec.grid(), seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=spec.seed)
    return optuna.samplers.TPESampler(seed=spec.seed)


OPTUNA_SCHEMA_LOCK = zlib.crc32(b"optuna schema")  # pg_advisory_lock key: first opens take turns


def optuna_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``url``. Opening creates Optuna's tables in a new database, and two
    drivers doing that at once on PostgreSQL would both create its enum types (the loser fails
    on a duplicate key): there, openers take turns under a server-wide advisory lock."""
    if make_url(url).get_backend_name() != "postgresql":
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": OPTUNA_SCHEMA_LOCK})
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": OPTUNA_SCHEMA_LOCK})
    finally:
        engine.dispose()


def open_study(spec: Spec, storage: optuna.storages.BaseStorage, name: str) -> optuna.Study:
    """Create or load the Optuna study ``name`` beside our tables; its objective carries the
    metric's name (``valid_si_snri``), which optuna-dashboard shows."""
    directions = [o.direction for o in spec.objectives]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions,
                                sampler=make_sampler(spec), load_if_exists=True)
    if [d.name.lower() for d in study.directions] != directions:
        raise SpecError(spec.path, None, "objective", f"study {name} was created with the objective(s) "
                         f"{', '.join(d.name.lower() for d in study.directions)}; this spec has "
                         f"{', '.join(f'{o.mode} {o.metric}' for o in spec.objectives)}")
    names = [o.metric for o in spec.objectives]
    if study.metric_names != names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    return study


def set_fail_reason(storage: optuna.storages.BaseStorage, study_name: str, number: int, reason: str) -> None:
    """Record why a trial failed where Optuna's own tools look (the ``fail_reason`` system
    attribute that ``study.optimize`` sets, and its first line as the ``status_reason`` user
    attribute that optuna-dashboard lists), through the storage's public API."""
    study_id = storage.get_study_id_from_name(study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    storage.set_trial_system_attr(trial_id, "fail_reason", reason[:2000])
    storage.set_trial_user_attr(trial_id, STATUS_REASON, _one_line(reason))


class OptunaSearcher(Searcher):
    """Asks Optuna for each Tune trial and tells it how the trial ended.

    Args:
        study: the Optuna study (its sampler decides).
        storage: the study's Optuna storage (the study's database), for ``fail_reason``.
        spec: the validated spec: its searched domains and how a sample becomes a TrialPlan.
        data_root: the prepared corpus, written into every plan.
        on_ask: called with (Tune trial id, Optuna number, plan) right after each ask.
        carried: trials a stopped driver left running, handed out first (see :class:`Carried`).
    """

    def __init__(self, study: optuna.Study, storage: optuna.storages.BaseStorage, spec: Spec, data_root: str,
                 on_ask: OnAsk, carried: Sequence[Carried] = ()) -> None:
        super().__init__(metric=spec.objective.metric, mode=spec.objective.mode)
        self._study, self._storage, self._spec = study, storage, spec
        self._data_root, self._on_ask = data_root, on_ask
        self._space = {k: d.to_optuna() for k, d in spec.searched().items()}
        self._asked: dict[str, optuna.Trial] = {}
        self._told: set[str] = set()
        self._failed: set[str] = set()  # failed, told once the driver knows why (tell_failure)
        self._carried = list(carried)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec) -> bool:
        return True  # the spec fixed the objective and the space; Tune's defaults must not override them

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._carried:
            return self._carry(trial_id, self._carried.pop(0))
        ot_trial = self._study.ask(fixed_distributions=self._space)
        plan = self._spec.resolve_trial(ot_trial.params, self._data_root)
        self._asked[trial_id] = ot_trial
        self._on_ask(trial_id, ot_trial.number, plan)
        config = {"number": ot_trial.number, "plan": plan, "study": self._study.study_name}
        broken = self._constraints(ot_trial, plan)
        if broken:  # told now; the worker only reports it (no training)
            ot_trial.set_user_attr(STATUS_REASON, broken["reason"])
            ot_trial.set_user_attr("param_count", broken["param_count"])
            self._study.tell(ot_trial, None, state=TrialState.PRUNED)
            self._forget(trial_id)
            config["infeasible"] = broken
        return config

    def _constraints(self, trial: optuna.Trial, plan: TrialPlan) -> dict[str, Any] | None:
        """Check the spec's constraints on ``plan``; each value goes to Optuna
        (``set_constraint``: the violation, <= 0 when satisfied). The broken ones' description
        and the parameter count when any is broken, else None."""
        if not self._spec.constraints:
            return None
        count = plan.param_count()
        broken = []
        for c in self._spec.constraints:
            violation = c.violation(count)
            trial.set_constraint(c.metric, violation)
            if violation > 0:
                broken.append(c.describe(count))
        return {"reason": "infeasible: " + "; ".join(broken), "param_count": count} if broken else None

    def _carry(self, trial_id: str, carried: Carried) -> dict[str, Any]:
        """The config of a carried trial: its row exists, its Optuna trial is still RUNNING."""
        study_id = self._storage.get_study_id_from_name(self._study.study_name)
        internal = self._storage.get_trial_id_from_study_id_trial_number(study_id, carried.number)
        self._asked[trial_id] = optuna.trial.Trial(self._study, internal)
        plan = self._spec.resolve_trial(carried.params, self._data_root)
        return {"number": carried.number, "plan": plan, "study": self._study.study_name, "restore": carried.restore}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        value = result.get(self.metric)
        if self._spec.multi_objective:  # Optuna takes intermediate values of one objective only
            return
        if trial_id in self._asked and _finite(value) and "epoch" in result:
            self._asked[trial_id].report(float(value), step=int(result["epoch"]))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._told or trial_id not in self._asked:
            return
        if error:  # Tune calls the driver's on_trial_error right after this, with the reason
            self._failed.add(trial_id)
            return
        state, value = outcome(result, error, self.metric, [o.metric for o in self._spec.objectives[1:]])
        for key, attr in outcome_attrs(result, state, self.metric).items():
            self._asked[trial_id].set_user_attr(key, attr)
        self._study.tell(self._asked[trial_id], value, state=state)
        self._forget(trial_id)

    def tell_failure(self, trial_id: str, reason: str) -> None:
        """Tell Optuna a trial FAILED, with ``reason`` as its ``fail_reason``."""
        if trial_id in self._told or trial_id not in self._asked:
            return
        set_fail_reason(self._storage, self._study.study_name, self._asked[trial_id].number, reason)
        self._study.tell(self._asked[trial_id], None, state=TrialState.FAIL)
        self._forget(trial_id)

    def _forget(self, trial_id: str) -> None:
        """A told trial: only its id is kept (a long study must not grow the driver's memory)."""
        self._told.add(trial_id)
        self._asked.pop(trial_id, None)
        self._failed.discard(trial_id)

    def close_unfinished(self, reason: str) -> None:
        """After the run: fail every asked trial Optuna was not told about (a stop, a signal)."""
        for trial_id in list(self._asked):
            self.tell_failure(trial_id, reason)

    # The database is the experiment's checkpoint: Tune's copy of the searcher holds nothing
    # (the storage URL may carry a password and must not reach tuner.pkl or searcher state).
    def save(self, checkpoint_path: str) -> None:
        return None

    def restore(self, checkpoint_path: str) -> None:
        return None

    def __getstate__(self) -> dict:
        return {"_metric": self._metric, "_mode": self._mode}


def outcome(result: dict | None, error: bool, metric: str,
            trial_metrics: list[str] | None = None) -> tuple[TrialState, float | list[float] | None]:
    """Optuna's state and value for a Tune trial that ended: failed, complete (its last report
    says ``final``) or pruned (stopped by the scheduler); a NaN objective is a failure. With
    ``trial_metrics`` (a multi-objective study's objectives after the first) the value is the
    list of all objectives."""
    if error:
        return TrialState.FAIL, None
    if not (result and result.get("final")):
        return TrialState.PRUNED, None
    value = (result.get("selected") or {}).get(metric, result.get(metric))  # at the tested weights' epoch
    values = [value] + [result.get(m) for m in trial_metrics or ()]
    if not all(_finite(v) for v in values):
        return TrialState.FAIL, None
    return TrialState.COMPLETE, [float(v) for v in values] if trial_metrics else float(value)


def outcome_attrs(result: dict | None, state: TrialState, metric: str) -> dict[str, Any]:
    """What a trial's Optuna user attributes record of how it ended (optuna-dashboard lists them):
    ``test_<metric>_<condition>_<assignment>_db`` per test row and summary metric (dB),
    ``param_count``, ``wall_s`` (Tune's ``time_total_s``, the trainable's running time, else the
    worker's own ``elapsed_s``), ``epochs`` and a one-line ``status_reason``."""
    result = result or {}
    attrs: dict[str, Any] = {}
    for row in result.get("results") or ():
        for m in summary_metrics():
            if _finite(row.get(m.name)):
                attrs[f"test_{m.name}_{row['condition']}_{row['assignment']}_db"] = float(row[m.name])
    if _finite(result.get("param_count")):
        attrs["param_count"] = int(result["param_count"])
    wall = result.get("time_total_s", result.get("elapsed_s"))
    if _finite(wall):
        attrs["wall_s"] = round(float(wall), 3)
    epoch = result.get("epoch")
    if _finite(epoch):
        attrs["epochs"] = int(epoch)
    reasons = {TrialState.COMPLETE: f"complete after {epoch} epoch{'' if epoch == 1 else 's'}",
               TrialState.PRUNED: f"stopped early by the scheduler after epoch {epoch}",
               TrialState.FAIL: f"{metric} was not a finite number at the tested epoch"}
    attrs[STATUS_REASON] = reasons.get(state, state.name.lower())
    return attrs


def _one_line(reason: str) -> str:
    """A stored failure reason's first line (``Type: message``), short enough for a table cell."""
    lines = [ln.strip() for ln in reason.splitlines() if ln.strip()]
    return (lines[0] if lines else "no reason recorded")[:500]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def recover(study: optuna.Study, storage: optuna.storages.BaseStorage, carry: int) -> list[int]:
    """Trials left RUNNING by a stopped driver: the first ``carry`` (by number) stay RUNNING, to
    be continued (returned); any beyond what the study still needs are closed as FAIL with a
    ``fail_reason``. Then every failed configuration that no finished, queued or continued trial
    covers is queued again. ``storage`` is the study's."""
    running = sorted(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)), key=lambda t: t.number)
    for t in running[max(carry, 0):]:
        set_fail_reason(storage, study.study_name, t.number, STALE_REASON)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
    kept = running[: max(carry, 0)]
    trials = study.get_trials(deepcopy=False)
    covered = {_key(t.params) for t in trials
               if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING)}
    covered |= {_key(t.params) for t in kept}
    # WAITING trials were enqueued but never asked: their params live in system attrs.
    covered |= {_key(t.system_attrs.get("fixed_params", {})) for t in trials if t.state == TrialState.WAITING}
    for t in trials:
        if t.state == TrialState.FAIL and t.params and _key(t.params) not in covered:
            study.enqueue_trial(t.params)
            covered.add(_key(t.params))
    return [t.number for t in kept]


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)
