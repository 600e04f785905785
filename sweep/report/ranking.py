"""The one rule for a study's "best" trial: its objective on validation data, never the test set.

A trial's validation score is the value of the study's objective (``objective:`` in the spec,
:class:`sweep.objective.Objective`) **at the epoch whose weights were tested**: the
``objective_value`` the driver stores, which is also the value Optuna is told. That is the
epoch that describes the model behind the test columns. A worker that keeps the
best-validation weights and tests them (:mod:`sweep.checkpoints`) reports that epoch's values
with its final report, so the score is the trial's best validation epoch's; a study run before
checkpoints tested the last epoch's weights, and its stored value is the last epoch's. Either
way the value and the test scores belong to the same weights, and no test number picks them.

Only complete trials compete; ties go to the lowest trial number. ``sweep status``, the report
(header, leaderboard, mask tables, Pareto front, per-family table), ``sweep compare`` and
``sweep results`` all call :func:`best_trial`, so they name the same trial. Importing this
module loads neither pandas nor plotly (``sweep status`` uses it).
"""

from __future__ import annotations

from typing import Iterable, Protocol, TypeVar

from sweep.objective import Objective
from sweep.store.tables import COMPLETE

__all__ = ["RULE", "Ranked", "best_trial", "ranked"]

RULE = ("the value of the study's objective on the validation set at the epoch whose weights were "
        "tested, so the test set never picks a trial")
"""The rule in words, for pages and help texts."""


class Ranked(Protocol):
    """Anything with a trial's number, status and objective value (a ``TrialRow``, a
    :class:`~sweep.report.views.TrialView`)."""

    @property
    def number(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def objective_value(self) -> float | None: ...


T = TypeVar("T", bound=Ranked)


def ranked(trials: Iterable[T]) -> list[T]:
    """The trials that compete for best: complete ones, in trial-number order."""
    return sorted((t for t in trials if t.status == COMPLETE), key=lambda t: t.number)


def best_trial(trials: Iterable[T], objective: Objective) -> T | None:
    """The complete trial whose objective value is best in ``objective``'s direction
    (ties: the lowest number); None when no complete trial has a finite value."""
    return objective.best(ranked(trials), lambda t: t.objective_value)
