"""What a study optimises, and the one rule for "best so far".

A trial reports a few metrics after every epoch (:data:`EPOCH_METRICS`); a spec's ``objective``
names one of them and a direction. Every "best" the harness shows (the driver's progress
line, ``sweep status``, the launch outcome, the report's ranking and its ties) goes through
:class:`Objective`, so ``mode: min`` is honoured everywhere or nowhere.
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
MODES = ("max", "min")

T = TypeVar("T")


@dataclass(frozen=True)
class Objective:
    """An epoch metric (a key of :data:`EPOCH_METRICS`) and ``mode`` (``'max'`` or ``'min'``)."""

    metric: str = "valid_si_snri"
    mode: str = "max"

    def __post_init__(self) -> None:
        if self.metric not in EPOCH_METRICS:
            raise ValueError(f"unknown objective metric {self.metric!r} (known: {', '.join(EPOCH_METRICS)})")
        if self.mode not in MODES:
            raise ValueError(f"objective mode must be 'max' or 'min', got {self.mode!r}")

    @property
    def label(self) -> str:
        return EPOCH_METRICS[self.metric][0]

    @property
    def direction(self) -> str:
        """Optuna's name for the mode."""
        return "maximize" if self.mode == "max" else "minimize"

    def fmt(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "-"
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
    words = str(text or "").split()
    if not words:
        return Objective()
    modes = [w for w in words if w in MODES]
    metrics = [w for w in words if w not in MODES]
    if len(modes) != 1 or len(metrics) != 1:
        raise ValueError(f"study objective {text!r}: expected '<max|min> <metric>'")
    return Objective(metrics[0], modes[0])
