"""Where a launch's time goes: seconds per phase (set-up, corpus, oracle, Ray start, trials,
report), printed at the end of a launch and stored with the study (``sweep_study.phases``, the
last launch's), beside each trial's own train / validate / test seconds (``sweep_trial``).

``setup`` runs from the command's start (the CLI's import) to the corpus phase: imports, the
spec, the checks, the database and the Optuna study. ``first_trial`` is not a phase of its own
but the part of ``trials`` before the first trial started running: ``Tuner.fit()``'s set-up and
the first worker's start (a process, Ray, torch and our code imported), a fixed cost of every
launch. ``total`` is the wall-clock time from the command's start to the end of the report; the
phases leave out a little of it (building the Tuner, closing the study), so they add up to a
fraction of a second less."""

from __future__ import annotations

import contextlib
import time
from typing import Iterable, Iterator

ORDER = ("setup", "corpus", "oracle", "ray_start", "trials", "report")


class Phases:
    """Wall-clock seconds per named phase of one launch."""

    def __init__(self, started: float | None = None) -> None:
        """``started``: ``time.perf_counter()`` when the command started (default: now)."""
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter() if started is None else started
        self._began: dict[str, float] = {}

    @contextlib.contextmanager
    def time(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        self._began.setdefault(phase, t0)
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def setup_done(self) -> None:
        """The set-up ends here: ``setup`` = seconds since the command started."""
        self.seconds.setdefault("setup", time.perf_counter() - self._t0)

    def first_trial_started(self) -> None:
        """A trial started running: the first call notes ``first_trial``, seconds into ``trials``."""
        if "trials" in self._began:
            self.seconds.setdefault("first_trial", time.perf_counter() - self._began["trials"])

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()} | {"total": round(time.perf_counter() - self._t0, 3)}


def phase_line(phases: dict[str, float], trials: Iterable) -> str:
    """``phases (s): corpus 0.1, oracle 3.2, ...`` with the trials' own seconds summed over the
    study's trials (``train_s`` includes validation, as its column always has)."""
    names = {"ray_start": "ray start"}
    notes = {"trials": f" (the first trial ran after {phases['first_trial']:.1f})"} if "first_trial" in phases else {}
    parts = [f"{names.get(k, k)} {phases[k]:.1f}{notes.get(k, '')}" for k in ORDER if k in phases]
    rows = [t for t in trials if t.train_s is not None]
    if rows:
        valid = sum(t.valid_s or 0.0 for t in rows)
        train = sum(t.train_s for t in rows) - valid
        test = sum(t.eval_s or 0.0 for t in rows)
        parts.append(f"per trial, summed over {len(rows)}: train {train:.1f}, validate {valid:.1f}, test {test:.1f}")
    if "total" in phases:
        parts.append(f"total {phases['total']:.1f}")
    return "phases (s): " + ", ".join(parts)
