"""What a study optimises, and the one rule for "best so far".

A trial reports a few metrics after every epoch (:data:`EPOCH_METRICS`); a spec's ``objective``
names one of them and a direction. Every "best" the harness shows (the driver's progress
line, ``sweep status``, the launch outcome, the report's ranking and its ties) goes through
:class:`Objective`, so ``mode: min`` is honoured everywhere or nowhere.

A multi-objective study lists more: the first is an epoch metric (the one ASHA stops on and
"best" ranks by), the others are trial metrics known once the model is built
(:data:`TRIAL_METRICS`: ``param_count``). Optuna then keeps a Pareto front, and so do we
(:func:`pareto_ranks`; ``sweep_trial.pareto_rank``, 0 on the front).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, TypeVar

# name -> (label, unit, natural direction); the worker reports each of these every epoch.
EPOCH_METRICS: dict[str, tuple[str, str, str]] = {
    "valid_si_snri": ("valid SI-SNRi", "dB", "max"),
    "train_loss": ("train loss", "", "min"),
}
# name -> (label, unit, natural direction); known for a trial as soon as its model is built.
TRIAL_METRICS: dict[str, tuple[str, str, str]] = {
    "param_count": ("parameters", "", "min"),
}
METRICS = {**EPOCH_METRICS, **TRIAL_METRICS}
MODES = ("max", "min")

T = TypeVar("T")


@dataclass(frozen=True)
class Objective:
    """A metric (a key of :data:`EPOCH_METRICS` or :data:`TRIAL_METRICS`) and ``mode`` (``'max'`` or ``'min'``)."""

    metric: str = "valid_si_snri"
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown objective metric {self.metric!r} (known: {', '.join(METRICS)})")
        if self.mode not in MODES:
            raise ValueError(f"objective mode must be 'max' or 'min', got {self.mode!r}")

    @property
    def label(self) -> str:
        return METRICS[self.metric][0]

    @property
    def direction(self) -> str:
        """Optuna's name for the mode."""
        return "maximize" if self.mode == "max" else "minimize"

    def fmt(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "-"
        if self.metric in TRIAL_METRICS:
            return f"{value / 1e6:.3f}M" if value >= 1e5 else f"{value:,.0f}"
        unit = EPOCH_METRICS[self.metric][1]
        return f"{value:.2f} {unit}".rstrip()

    def key(self, value: float) -> float:
        """A sort key where larger is always better."""
        return value if self.mode == "max" else -value

    def better(self, a: float | None, b: float | None) -> bool:
        """True if ``a`` beats ``b`` (a missing or NaN value never beats anything)."""
        if a is None or not math.isfinite(a):
            return False
        if b is None or not math.isfinite(b):
            return True
        return self.key(a) > self.key(b)

    def best(self, items: Iterable[T], value: Callable[[T], float | None]) -> T | None:
        """The item whose ``value`` is best; ties go to the earliest item. None if none has a value."""
        winner, wv = None, None
        for item in items:
            v = value(item)
            if self.better(v, wv):
                winner, wv = item, v
        return winner

    def best_value(self, values: Iterable[float | None]) -> float | None:
        return self.best(values, lambda v: v)


def parse_objective(text: str | None) -> Objective:
    """``StudyRow.objective`` (``"max valid_si_snri"``, either word order) as an Objective; an
    empty one is the default objective. Raises ValueError for anything else. Here, not in the
    report, so that ``sweep status`` reads it without importing torch or pandas."""
    words = str(text or "").split(",")[0].split()  # a multi-objective study: its first
    if not words:
        return Objective()
    modes = [w for w in words if w in MODES]
    metrics = [w for w in words if w not in MODES]
    if len(modes) != 1 or len(metrics) != 1:
        raise ValueError(f"study objective {text!r}: expected '<max|min> <metric>'")
    return Objective(metrics[0], modes[0])


def parse_objectives(text: str | None) -> tuple[Objective, ...]:
    """``StudyRow.objective`` of a multi-objective study (``"max valid_si_snri, min param_count"``)
    as its objectives; :func:`parse_objective` of it is the first."""
    parts = [p for p in str(text or "").split(",") if p.strip()]
    return tuple(parse_objective(p) for p in parts) or (Objective(),)


def objectives_text(objectives: Iterable[Objective]) -> str:
    """The stored form: ``"max valid_si_snri"``, comma-separated for several."""
    return ", ".join(f"{o.mode} {o.metric}" for o in objectives)


def dominates(a: tuple[float, ...], b: tuple[float, ...], objectives: tuple[Objective, ...]) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    ka = [o.key(v) for o, v in zip(objectives, a)]
    kb = [o.key(v) for o, v in zip(objectives, b)]
    return all(x >= y for x, y in zip(ka, kb)) and any(x > y for x, y in zip(ka, kb))


def pareto_ranks(points: dict[int, tuple[float, ...]], objectives: tuple[Objective, ...]) -> dict[int, int]:
    """Non-dominated sorting: trial -> its front (0: the Pareto front; 1: the front once the
    first is removed, ...). ``points`` are trial -> one finite value per objective."""
    ranks: dict[int, int] = {}
    left = dict(points)
    rank = 0
    while left:
        front = [n for n, v in left.items() if not any(dominates(w, v, objectives) for m, w in left.items() if m != n)]
        for n in front:
            ranks[n] = rank
            del left[n]
        rank += 1
    return ranks
