"""Tune callbacks that run in the driver: the store's writer and the progress printer.

:class:`StoreWriter` writes the rows of trials, epochs and test results as Tune reports them
(the row itself is written at Optuna's ask, from the :class:`~sweep.plan.TrialPlan`).
Optuna's trial number, carried in each trial's config, ties a row to Optuna's own trial.
"""

from __future__ import annotations

import math
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ray.tune import Callback

from sweep.objective import Objective, pareto_ranks
from sweep.plan import TrialPlan
from sweep.store import COMPLETE, FAILED, INFEASIBLE, PRUNED, Store, now

if TYPE_CHECKING:
    from sweep.driver.phases import Phases


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Interrupt|Exit))(?::\s*(.*))?$")


# How an out-of-memory shows in a trial's error: PyTorch's CPU and CUDA allocators, Python,
# and Ray's memory monitor killing the worker.
_OUT_OF_MEMORY = ("can't allocate memory", "cuda out of memory", "outofmemoryerror", "memoryerror",
                  "out of memory")


def _raw_error(trial) -> str:
    """Ray's text of a trial's error: from the trial's storage, else the copy Tune wrote in its
    local folder (the storage copy may not be synced yet when the callback runs)."""
    try:
        err = trial.get_error()
        if err:
            return str(err)
    except Exception:  # noqa: BLE001 - Ray's error plumbing varies; never lose the status
        pass
    name = getattr(trial.run_metadata, "error_filename", None)
    if trial.local_path and name:
        path = Path(trial.local_path) / name
        if path.is_file():
            return path.read_text(errors="replace")
    return ""


def error_text(trial) -> str:
    """Why a trial failed: ``Type: message`` of the exception the worker raised on the first line,
    then the last lines of its traceback (at most 2,000 characters in all)."""
    lines = [ln.rstrip() for ln in _raw_error(trial).splitlines() if ln.strip()]
    if not lines:
        return "the trial's worker stopped without an error message (see its log)"
    hits = [m for m in map(_EXCEPTION_LINE.match, (ln.strip() for ln in lines)) if m]
    head = f"{hits[-1].group(1)}: {hits[-1].group(2) or ''}".rstrip(": ") if hits else lines[-1].strip()
    text = " ".join(lines).lower()
    if any(m in text for m in _OUT_OF_MEMORY):
        head = "out of memory: " + head
    elif "ActorDied" in head or "actor died" in text:
        head = "the trial's worker process died (killed, or out of memory): " + head
    return "\n".join([head, *lines[-8:]])[:2000]


def log_path(trial) -> str | None:
    """Where Ray keeps a trial's files (its error.txt and worker output)."""
    return str(trial.local_path) if getattr(trial, "local_path", None) else None


def front(rows, objectives: tuple[Objective, ...]) -> dict[int, int]:
    """Pareto ranks of a multi-objective study's complete trials, from their rows: the first
    objective is ``objective_value``, the others trial metrics with columns of their own."""
    points = {}
    for r in rows:
        values = (r.objective_value, *(getattr(r, o.metric) for o in objectives[1:]))
        if r.status == COMPLETE and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            points[r.number] = tuple(float(v) for v in values)
    return pareto_ranks(points, objectives)


def selected_value(result: dict[str, Any], metric: str) -> float | None:
    """The objective's value at the epoch a final report's test weights are from (``selected``),
    or its last epoch's for a report without one."""
    selected = result.get("selected") or {}
    return selected.get(metric, result.get(metric))


def _number(trial) -> int:
    return int(trial.config["number"])


def _plan(trial) -> TrialPlan:
    return trial.config["plan"]


class StoreWriter(Callback):
    """Writes trials, epochs and test results as Tune reports them."""

    def __init__(self, store: Store, study_id: int, objective: Objective,
                 objectives: tuple[Objective, ...] = ()) -> None:
        self.store, self.study_id, self.objective = store, study_id, objective
        self.objectives = objectives or (objective,)
        self.searcher = None  # set by the driver: told of a failure with its reason

    def on_ask(self, trial_id: str, number: int, plan: TrialPlan) -> None:
        """Called by the searcher right after Optuna's ask: the row exists before the trial runs."""
        self.store.trial_queued(self.study_id, number, plan)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.store.update_trial(self.study_id, _number(trial), ray_trial_id=trial.trial_id, started_at=now())

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        n = _number(trial)
        if result.get("infeasible"):
            self.store.update_trial(self.study_id, n, param_count=result.get("param_count"))
            return
        self.store.add_epoch(self.study_id, n, int(result["epoch"]), result.get("train_loss"),
                             result.get("valid_si_snri"), result.get("elapsed_s"), result.get(self.objective.metric))
        updates = {k: result.get(k) for k in ("param_count", "device", "device_name", "torch_version", "node",
                                               "peak_rss_mb", "peak_gpu_mb")}
        if result.get("final"):
            self.store.add_results(self.study_id, n, result["results"])
            # A trial is ranked by its objective at the epoch whose weights were tested.
            updates.update(train_s=result.get("train_s"), valid_s=result.get("valid_s"), eval_s=result.get("eval_s"),
                           compile_s=result.get("compile_s"),
                           best_epoch=result.get("best_epoch"),
                           objective_value=selected_value(result, self.objective.metric))
        self.store.update_trial(self.study_id, n, **{k: v for k, v in updates.items() if v is not None})

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        last = trial.last_result
        if last.get("infeasible"):
            self._finish(trial, INFEASIBLE, last["infeasible"])
            return
        self._finish(trial, COMPLETE if last.get("final") else PRUNED, None)
        if len(self.objectives) > 1:
            self.store.set_pareto_ranks(self.study_id, front(self.store.trials(self.study_id), self.objectives))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        reason = error_text(trial)
        if self.searcher is not None:
            self.searcher.tell_failure(trial.trial_id, reason)
        self._finish(trial, FAILED, reason)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        """Tune runs a failed trial again (``failure.max_retries``) from its latest checkpoint:
        the epochs after it go (they run again)."""
        n = _number(trial)
        row = self.store.trial(self.study_id, n)
        self.store.restart_trial(self.study_id, n, f"attempt failed, retrying: {error_text(trial)}",
                                 after_epoch=(row.checkpoint_epoch or 0) if row and row.checkpoint_uri else 0)

    def _finish(self, trial, status: str, error: str | None) -> None:
        n = _number(trial)
        row = self.store.trial(self.study_id, n)
        started = row.started_at if row and row.started_at else now()
        self.store.update_trial(self.study_id, n, status=status, error=error, finished_at=now(),
                                wall_s=(now() - started).total_seconds())


class ProgressPrinter(Callback):
    """One line per epoch and per finished trial: done of planned, best so far, elapsed."""

    def __init__(self, store: Store, study_id: int, planned: int, already: int, objective: Objective,
                 out: TextIO | None = sys.stderr) -> None:
        self.planned, self.out, self.objective = planned, out, objective
        self.done = already
        self.t0 = time.monotonic()
        best = objective.best([t for t in store.trials(study_id) if t.status == COMPLETE], lambda t: t.objective_value)
        self.best: float | None = best.objective_value if best else None

    def _say(self, text: str) -> None:
        if self.out is not None:
            elapsed = time.monotonic() - self.t0
            print(f"[{self.done}/{self.planned} | best {self.objective.fmt(self.best)} | "
                  f"{elapsed // 60:.0f}m{elapsed % 60:02.0f}s] {text}", file=self.out, flush=True)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if result.get("infeasible"):
            return
        self._say(f"{_plan(trial).label()}: epoch {result['epoch']} {self.objective.label} "
                  f"{self.objective.fmt(result.get(self.objective.metric))}")

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        last: dict[str, Any] = trial.last_result
        if last.get("infeasible"):
            self._say(f"{_plan(trial).label()}: {last['infeasible']} (not trained)")
            return
        if not last.get("final"):
            self._say(f"{_plan(trial).label()}: pruned by the scheduler at epoch {last.get('epoch')}")
            return
        value = selected_value(last, self.objective.metric)
        if self.objective.better(value, self.best):
            self.best = value
        tests = ", ".join(f"{r['condition']}/{r['assignment']} {r['si_snri']:.2f}" for r in last.get("results", []))
        self._say(f"{_plan(trial).label()}: complete; test SI-SNRi (dB) {tests}")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        where = log_path(trial)
        self._say(f"{_plan(trial).label()}: FAILED: {error_text(trial).splitlines()[0]}"
                  + (f" (log: {where})" if where else ""))

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self._say(f"{_plan(trial).label()}: failed ({error_text(trial).splitlines()[0]}); running it again")

    def close(self) -> None:
        self._say("done")

    def __getstate__(self) -> dict:  # Tune pickles callbacks into tuner.pkl; nothing here is needed there
        return {"planned": self.planned, "out": None, "objective": self.objective, "done": self.done,
                "t0": self.t0, "best": self.best}


class FirstTrialClock(Callback):
    """Notes in the launch's :class:`~sweep.driver.phases.Phases` when its first trial started
    running (Tune's ``on_trial_start``: the trial's worker is up and runs our code)."""

    def __init__(self, phases: Phases) -> None:
        self.phases = phases

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.phases.first_trial_started()
