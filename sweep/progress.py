"""Tune callbacks that run in the driver: the store's writer and the progress line.

The writer is the only code that writes ``sweep_*`` rows. Optuna's trial number is the key
that ties a row to Optuna's own trial in the same database.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from sweep.store import COMPLETE, FAILED, PRUNED, Store, now


def _short_error(trial) -> str:
    try:
        err = trial.get_error()
    except Exception:  # noqa: BLE001 - Ray's error plumbing varies; never lose the status
        err = None
    text = str(err) if err else "the trial raised an error (see Ray's logs)"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    # Ray wraps the worker's traceback; its last lines say what went wrong.
    return "\n".join(lines[-6:])[:2000]


class StoreWriter(Callback):
    """Writes trials, epochs and test results as Tune reports them."""

    def __init__(self, store: Store, study_id: int, spec: Any) -> None:
        self.store, self.study_id, self.spec = store, study_id, spec
        self.numbers: dict[str, int] = {}

    # Called by SweepSearch.suggest, right after Optuna's ask.
    def on_ask(self, trial_id: str, ot_trial: Any, params: dict) -> None:
        self.numbers[trial_id] = ot_trial.number
        full = {**self.spec.fixed(), **params}
        family, model = self.spec.model_of(full)
        full.update(model)  # a variant's own parameters are part of what the trial ran
        seed = self.spec.seed + int(full.get("replicate", 0))
        self.store.trial_queued(self.study_id, ot_trial.number, family, full, seed)

    def _number(self, trial) -> int:
        return self.numbers[trial.trial_id]

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.store.update_trial(self.study_id, self._number(trial), ray_trial_id=trial.trial_id, started_at=now())

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        n = self._number(trial)
        self.store.add_epoch(self.study_id, n, int(result["epoch"]), result.get("train_loss"),
                             result.get("valid_si_snri"), result.get("elapsed_s"))
        updates = {"param_count": result.get("param_count"), "device": result.get("device")}
        if result.get("final"):
            self.store.add_results(self.study_id, n, result["results"])
            updates.update(train_s=result.get("train_s"), eval_s=result.get("eval_s"))
        self.store.update_trial(self.study_id, n, **{k: v for k, v in updates.items() if v is not None})

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        final = bool(trial.last_result.get("final"))
        self._finish(trial, COMPLETE if final else PRUNED, None)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._finish(trial, FAILED, _short_error(trial))

    def _finish(self, trial, status: str, error: str | None) -> None:
        n = self._number(trial)
        row = next((t for t in self.store.trials(self.study_id) if t.number == n), None)
        started = row.started_at if row and row.started_at else now()
        self.store.update_trial(self.study_id, n, status=status, error=error, finished_at=now(),
                                wall_s=(now() - started).total_seconds())


class Progress(Callback):
    """One line per finished trial and per epoch: done of planned, best so far, elapsed."""

    def __init__(self, store: Store, study_id: int, planned: int, already: int, out: TextIO | None = sys.stderr,
                 driver: str | None = None) -> None:
        self.store, self.study_id, self.planned, self.out = store, study_id, planned, out
        self.driver, self._beat = driver, 0.0
        self.done = already
        self.t0 = time.monotonic()
        self.best: float | None = None
        for t in store.trials(study_id):
            if t.status == COMPLETE and t.valid_si_snri is not None:
                self.best = t.valid_si_snri if self.best is None else max(self.best, t.valid_si_snri)

    def on_step_end(self, iteration, trials, **info) -> None:
        # The study's heartbeat: another `sweep resume` refuses to take over a live driver.
        if self.driver and time.monotonic() - self._beat > 10.0:
            self._beat = time.monotonic()
            self.store.heartbeat(self.study_id, self.driver)

    def _say(self, text: str) -> None:
        if self.out is not None:
            elapsed = time.monotonic() - self.t0
            print(f"[{self.done}/{self.planned} | best {self._fmt(self.best)} | {elapsed // 60:.0f}m{elapsed % 60:02.0f}s] "
                  f"{text}", file=self.out, flush=True)

    @staticmethod
    def _fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} dB"

    @staticmethod
    def _label(trial) -> str:
        return " ".join(f"{k}={v}" for k, v in sorted(trial.config.items()))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._say(f"{self._label(trial)}: epoch {result['epoch']} valid SI-SNRi {self._fmt(result.get('valid_si_snri'))}")

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        final = bool(trial.last_result.get("final"))
        if final:
            self.done += 1
            v = trial.last_result.get("valid_si_snri")
            if v is not None:
                self.best = v if self.best is None else max(self.best, v)
            tests = ", ".join(f"{r['condition']}/{r['assignment']} {r['si_snri']:.2f}"
                              for r in trial.last_result.get("results", []))
            self._say(f"{self._label(trial)}: complete; test SI-SNRi (dB) {tests}")
        else:
            self.done += 1
            self._say(f"{self._label(trial)}: pruned by the scheduler at epoch {trial.last_result.get('epoch')}")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._say(f"{self._label(trial)}: FAILED: {_short_error(trial).splitlines()[-1] if _short_error(trial) else ''}")

    def close(self) -> None:
        self._say("done")
