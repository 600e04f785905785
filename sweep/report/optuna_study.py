"""The loaded study as an in-memory Optuna study, for ``optuna.visualization`` and
``optuna.importance``.

The report reads the database once, read-only, through :class:`sweep.store.Store`, and Optuna's
``RDBStorage`` would create tables and check its schema version on open (a write on a
read-only database). So the figures are drawn from an ``InMemoryStorage`` study rebuilt from
the rows the page already holds: the same trials, numbers, parameters, states, objective
values, per-epoch values and start/finish times as the driver wrote them.

Parameter distributions are the spec's searched domains (``Domain.to_optuna``), widened to
cover any value a trial ran with (a study resumed from an edited spec); without a stored spec
they come from the values seen. Text values go through :func:`~sweep.report.tables.esc`:
plotly draws tick labels and hover text as HTML.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from typing import TYPE_CHECKING, Any, Iterator

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from sweep.report.tables import esc
from sweep.report.views import TrialView, num
from sweep.store import COMPLETE, FAILED, INTERRUPTED, PRUNED, RUNNING

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["as_optuna_study", "quiet", "search_distributions"]

# An interrupted trial is still RUNNING in Optuna: `sweep resume` continues it.
_STATE = {COMPLETE: TrialState.COMPLETE, PRUNED: TrialState.PRUNED, FAILED: TrialState.FAIL,
          RUNNING: TrialState.RUNNING, INTERRUPTED: TrialState.RUNNING}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna without its log lines and warnings (a report is no place for "A new study created
    in memory" or an experimental-feature notice); its errors still raise."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _plain(value: Any) -> Any:
    """A parameter value as Optuna may hold it, HTML-escaped if it is text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return esc(value)


def _widened(dist: BaseDistribution | None, values: list[Any]) -> BaseDistribution:
    """``dist`` widened to hold every value in ``values`` (a categorical one gains choices, a
    range its extremes); from the values alone when there is no ``dist``."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if isinstance(dist, (IntDistribution, FloatDistribution)) and len(numbers) == len(values):
        low, high = min([dist.low, *numbers]), max([dist.high, *numbers])
        if isinstance(dist, IntDistribution):
            step = dist.step if all((int(v) - int(low)) % dist.step == 0 for v in numbers) else 1
            return IntDistribution(int(low), int(high), log=dist.log and low > 0, step=1 if dist.log else step)
        return FloatDistribution(float(low), float(high), log=dist.log and low > 0)
    if dist is None and numbers and len(numbers) == len(values) and len(set(numbers)) > 2:
        kind = IntDistribution if all(isinstance(v, int) for v in numbers) else FloatDistribution
        return kind(min(numbers), max(numbers))
    choices = list(dist.choices) if isinstance(dist, CategoricalDistribution) else []
    choices = [_plain(c) for c in choices]
    choices += [v for v in dict.fromkeys(values) if v not in choices]
    return CategoricalDistribution(choices or [None])


def search_distributions(r: StudyReport) -> dict[str, BaseDistribution]:
    """Searched key -> Optuna distribution covering the values the study's trials ran with."""
    spec_dists = {k: d.to_optuna() for k, d in r.spec.searched().items()} if r.spec is not None else {}
    keys = list(dict.fromkeys([*spec_dists, *r.searched]))
    out = {}
    for key in keys:
        values = [_plain(v.params[key]) for v in r.views if key in v.params]
        if values or key in spec_dists:
            out[key] = _widened(spec_dists.get(key), values)
    return out


def _when(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return None if stamp != stamp else stamp  # pandas NaT compares unequal to itself


def _frozen(v: TrialView, dists: dict[str, BaseDistribution], curve: dict[int, float],
            default_start: dt.datetime) -> FrozenTrial:
    state = _STATE.get(v.status, TrialState.FAIL)
    value = v.objective_value if state == TrialState.COMPLETE else None
    if state == TrialState.COMPLETE and value is None:
        state = TrialState.FAIL  # complete without an objective value: Optuna would have failed it
    params = {k: _plain(v.params[k]) for k in dists if k in v.params}
    start = _when(v.row.get("started_at")) or _when(v.row.get("queued_at")) or default_start
    end = _when(v.row.get("finished_at")) if state != TrialState.RUNNING else None
    if state != TrialState.RUNNING and end is None:
        end = start
    return FrozenTrial(number=v.number, state=state, value=value, values=None, datetime_start=start,
                       datetime_complete=end, params=params, distributions={k: dists[k] for k in params},
                       user_attrs={}, system_attrs={}, intermediate_values=curve if state != TrialState.FAIL else {},
                       trial_id=v.number)


def _curves(r: StudyReport) -> dict[int, dict[int, float]]:
    """Trial id -> {epoch: the objective's value} (what each trial reported to Optuna)."""
    metric, out = r.objective.metric, {}
    if not len(r.epochs) or metric not in r.epochs:
        return out
    for rec in r.epochs.to_dict("records"):
        value = num(rec[metric])
        if value is not None:
            out.setdefault(int(rec["trial_id"]), {})[int(rec["epoch"])] = value
    return out


def as_optuna_study(r: StudyReport) -> optuna.Study:
    """An in-memory Optuna study holding ``r``'s trials, numbered as in the database (a number
    with no row, which a healthy study never has, is filled with a failed trial)."""
    dists = search_distributions(r)
    with quiet():
        study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction=r.objective.direction,
                                    study_name=esc(r.row.name))
        study.set_metric_names([r.objective.label])
    curves = _curves(r)
    by_number = {v.number: v for v in r.views}
    starts = [s for v in r.views for s in (_when(v.row.get("started_at")), _when(v.row.get("queued_at"))) if s]
    first = min(starts, default=dt.datetime(2000, 1, 1))
    for number in range(max(by_number, default=-1) + 1):
        v = by_number.get(number) or TrialView({"number": number, "status": FAILED, "id": -1})
        study.add_trial(_frozen(v, dists, curves.get(int(v.row.get("id", -1)), {}), first))
    return study
