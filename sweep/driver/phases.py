"""Where a launch's time goes: seconds per phase (corpus, oracle, Ray start, trials, report),
printed at the end of a launch and stored with the study (``sweep_study.phases``, the last
launch's), beside each trial's own train / validate / test seconds (``sweep_trial``)."""

from __future__ import annotations

import contextlib
import time
from typing import Iterable, Iterator

ORDER = ("corpus", "oracle", "ray_start", "trials", "report")


class Phases:
    """Wall-clock seconds per named phase of one launch."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()

    @contextlib.contextmanager
    def time(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()} | {"total": round(time.perf_counter() - self._t0, 3)}


def phase_line(phases: dict[str, float], trials: Iterable) -> str:
    """``phases (s): corpus 0.1, oracle 3.2, ...`` with the trials' own seconds summed over the
    study's trials (``train_s`` includes validation, as its column always has)."""
    names = {"ray_start": "ray start"}
    parts = [f"{names.get(k, k)} {phases[k]:.1f}" for k in ORDER if k in phases]
    rows = [t for t in trials if t.train_s is not None]
    if rows:
        valid = sum(t.valid_s or 0.0 for t in rows)
        train = sum(t.train_s for t in rows) - valid
        test = sum(t.eval_s or 0.0 for t in rows)
        parts.append(f"per trial, summed over {len(rows)}: train {train:.1f}, validate {valid:.1f}, test {test:.1f}")
    if "total" in phases:
        parts.append(f"total {phases['total']:.1f}")
    return "phases (s): " + ", ".join(parts)
