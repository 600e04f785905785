"""One view per trial, with the statistics the report shows: test scores, their 95% confidence
intervals, the objective's value, and the paired comparison with the study's best trial.

"Best" is the study's objective (:class:`sweep.objective.Objective`) on validation data, at
the epoch whose weights were tested (:func:`sweep.report.ranking.best_trial`, the rule ``sweep status``
shares): the trial the search itself would pick. The test set never selects it; it only says, through a
paired t-test on the same utterances, whether another trial is separable from the pick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from sweep.objective import EPOCH_METRICS, Objective
from sweep.report.ranking import best_trial
from sweep.scoring.registry import get as get_test_metric
from sweep.scoring.registry import summary_metrics
from sweep.scoring.stats import ALPHA, MeanCI, PairedResult, mean_ci, ties_with_best
from sweep.store import COMPLETE, FAILED, PRUNED, RUNNING

__all__ = ["BESIDE_PUBLISHED", "TIE_METRIC", "TrialView", "best_per_cell", "leaderboard_order", "num", "trial_views"]

TIE_METRIC = "si_snri"
"""The test metric of the paired comparison with the best trial (and of the scatter)."""
BESIDE_PUBLISHED = ("closed", "default")
"""(condition, assignment) of our test scores where they stand beside the published systems: the
SI-SNRi-vs-parameters scatter, its Pareto table and the per-family table (default assignment:
the output as the model emits it, as the published systems are scored)."""

ScoreKey = tuple[str, str, str]  # (metric, condition, assignment)
_STATUS_ORDER = {RUNNING: 0, PRUNED: 1, FAILED: 2}


def num(value: Any) -> float | None:
    """A float, or None for None / NaN / non-numbers (pandas hands back all three for SQL NULL)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


@dataclass
class TrialView:
    """One trial as the report needs it: the ``sweep_trial`` row plus what was measured on it."""

    row: dict[str, Any]
    scores: dict[ScoreKey, float] = field(default_factory=dict)  # test means
    # Per-utterance test scores {(metric, condition, assignment): {utterance: dB}} and their CIs.
    utterances: dict[ScoreKey, dict[str, float]] = field(default_factory=dict)
    cis: dict[ScoreKey, MeanCI] = field(default_factory=dict)
    n_utterances: dict[tuple[str, str], int] = field(default_factory=dict)  # (condition, assignment) -> n
    last: dict[str, float] = field(default_factory=dict)  # last reported value of each epoch metric
    objective_value: float | None = None  # the study objective's last reported value
    # Paired test of TIE_METRIC against the best trial; None for the best itself and when untested.
    vs_best: PairedResult | None = None
    is_best: bool = False

    @property
    def number(self) -> int:
        return int(self.row["number"])

    @property
    def status(self) -> str:
        return str(self.row["status"])

    @property
    def family(self) -> str:
        return str(self.row.get("family") or "")

    @property
    def params(self) -> dict[str, Any]:
        """Every parameter the trial ran with (``Store.frames`` decodes the JSON column)."""
        p = self.row.get("params")
        return p if isinstance(p, dict) else {}

    def score(self, metric: str, condition: str, assignment: str) -> float | None:
        return self.scores.get((metric, condition, assignment))

    def test_key(self, metric: str = TIE_METRIC) -> ScoreKey:
        """Closed condition, optimal assignment where the trial has it, else default."""
        if self.score(metric, "closed", "optimal") is not None:
            return (metric, "closed", "optimal")
        return (metric, "closed", "default")

    def published_score(self, metric: str = TIE_METRIC) -> float | None:
        """The test mean that stands beside published numbers (:data:`BESIDE_PUBLISHED`)."""
        return self.score(metric, *BESIDE_PUBLISHED)

    def test_score(self, metric: str = TIE_METRIC) -> float | None:
        return self.scores.get(self.test_key(metric))

    def test_utterances(self, metric: str = TIE_METRIC) -> dict[str, float]:
        """The per-utterance scores behind :meth:`test_score` (empty when not stored)."""
        return self.utterances.get(self.test_key(metric), {})

    @property
    def verdict(self) -> str | None:
        """``best``, ``tied`` (p >= ALPHA), ``worse`` or ``better`` on the test set; None if untested."""
        if self.is_best:
            return "best"
        r = self.vs_best
        if r is None:
            return None
        if r.p_value >= ALPHA:
            return "tied"
        lower = r.mean_diff > 0  # best minus this trial
        return "worse" if lower == get_test_metric(TIE_METRIC).higher_is_better else "better"

    @property
    def tied(self) -> bool:
        return self.verdict == "tied"


def trial_views(trials: pd.DataFrame, results: pd.DataFrame, utterances: pd.DataFrame | None,
                epochs: pd.DataFrame, objective: Objective) -> list[TrialView]:
    """Join ``Store.frames`` (and ``Store.utterance_frame``) into one view per trial: test means,
    95% CIs, the objective's value, the best trial by ``objective``, and the paired tests of
    every complete trial against it. Views come back in trial-number order."""
    views = {int(r["id"]): TrialView(r) for r in trials.to_dict("records")}
    _add_scores(views, results)
    if utterances is not None and len(utterances):
        _add_utterances(views, utterances)
    _add_epoch_metrics(views, epochs, objective)
    ordered = sorted(views.values(), key=lambda v: v.number)
    best = best_trial(ordered, objective)
    if best is not None:
        best.is_best = True
        _add_ties(ordered, best)
    return ordered


def _metric_cells(views: dict[int, TrialView], frame: pd.DataFrame):
    """(view, row, metric, value) for every summary metric a row of ``frame`` holds."""
    metrics = [m.name for m in summary_metrics() if m.name in frame.columns]
    for r in frame.to_dict("records"):
        view = views.get(int(r["trial_id"]))
        if view is None:
            continue
        for metric in metrics:
            v = num(r[metric])
            if v is not None:
                yield view, r, metric, v


def _add_scores(views: dict[int, TrialView], results: pd.DataFrame) -> None:
    for view, r, metric, v in _metric_cells(views, results):
        view.scores[(metric, str(r["condition"]), str(r["assignment"]))] = v
        n = num(r.get("n_utterances"))
        if n is not None:
            view.n_utterances[(str(r["condition"]), str(r["assignment"]))] = int(n)


def _add_utterances(views: dict[int, TrialView], utterances: pd.DataFrame) -> None:
    for view, r, metric, v in _metric_cells(views, utterances):
        key = (metric, str(r["condition"]), str(r["assignment"]))
        view.utterances.setdefault(key, {})[str(r["utterance"])] = v
    for view in views.values():
        view.cis = {k: mean_ci(list(u.values())) for k, u in view.utterances.items() if u}


def _add_epoch_metrics(views: dict[int, TrialView], epochs: pd.DataFrame, objective: Objective) -> None:
    """The last reported value of each epoch metric, and the objective's value: the store's
    ``objective_value``, or, for rows written before that column, the last epoch value of the
    objective's metric."""
    metrics = [m for m in EPOCH_METRICS if m in epochs.columns]
    for trial_id, group in epochs.sort_values("epoch").groupby("trial_id") if len(epochs) else ():
        view = views.get(int(trial_id))
        if view is None:
            continue
        for metric in metrics:
            values = [x for x in map(num, group[metric]) if x is not None]
            if values:
                view.last[metric] = values[-1]
    for view in views.values():
        value = num(view.row.get("objective_value"))
        view.objective_value = view.last.get(objective.metric) if value is None else value


def _add_ties(views: list[TrialView], best: TrialView) -> None:
    by_number = {v.number: v for v in views}
    scores = {v.number: v.test_utterances() for v in views if v.status == COMPLETE and v.test_utterances()}
    mode = "max" if get_test_metric(TIE_METRIC).higher_is_better else "min"
    for number, res in ties_with_best(scores, mode, best=best.number).items():
        by_number[number].vs_best = res


def leaderboard_order(views: Iterable[TrialView], objective: Objective) -> list[TrialView]:
    """Complete trials by the objective (best first), then complete ones without a value, then
    running, pruned and failed trials (each by the objective too); ties by trial number."""
    def key(v: TrialView) -> tuple:
        has = v.objective_value is not None
        score = -objective.key(v.objective_value) if has else math.inf
        if v.status == COMPLETE:
            return (0 if has else 1, 0, score, v.number)
        return (2, _STATUS_ORDER.get(v.status, 3), score, v.number)
    return sorted(views, key=key)


def best_per_cell(views: Iterable[TrialView], objective: Objective, family: str, mask: str,
                  activation: str) -> dict[tuple[str, str], TrialView]:
    """The best complete trial of ``family`` per (mask, activation) value, by the objective (on
    validation, never on the test set); ``mask`` and ``activation`` name the family's knobs."""
    cells: dict[tuple[str, str], list[TrialView]] = {}
    for v in sorted(views, key=lambda v: v.number):
        if v.status == COMPLETE and v.scores and v.family == family:
            cell = (str(v.params.get(mask)), str(v.params.get(activation)))
            cells.setdefault(cell, []).append(v)
    return {cell: best_trial(vs, objective) or vs[0] for cell, vs in cells.items()}
