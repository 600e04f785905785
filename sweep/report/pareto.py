"""Size against quality: the study's Pareto front of parameter count against the objective.

A trial is on the front when no other complete trial is at least as good on both axes and
better on one: fewer (or as many) parameters, and a better (or equal) objective value on
**validation** at the tested epoch (:mod:`sweep.report.ranking`'s rule, so the test set chooses nothing here either).
The scatter then draws the front's trials at their test SI-SNRi, which is why a front trial may
sit below a trial that is not on it: the test set did not choose them.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Hashable, Sequence, TypeVar

from sweep.report.ranking import ranked
from sweep.report.tables import configuration, esc, fmt_db, fmt_params
from sweep.report.views import BESIDE_PUBLISHED, TrialView, num
from sweep.scoring.registry import summary_metrics

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["front_table_html", "front_views", "pareto_front"]

K = TypeVar("K", bound=Hashable)


def pareto_front(points: Sequence[tuple[K, float, float]]) -> list[K]:
    """Keys of the non-dominated points among ``(key, size, score)``: smaller size and larger
    score are better. Sorted by size (then score, best first); equal points are all kept."""
    # One pass over the points by size (O(n log n)): a point is on the front when it has the
    # best score of its size and beats every score of a strictly smaller size.
    front, best_smaller = [], -math.inf
    ordered = sorted(points, key=lambda p: (p[1], -p[2]))
    for _, group in itertools.groupby(ordered, key=lambda p: p[1]):
        group = list(group)
        top = group[0][2]
        if top > best_smaller:
            front += [key for key, _, score in group if score == top]
            best_smaller = top
    return front


def front_views(r: StudyReport) -> list[TrialView]:
    """The complete trials on the front of parameter count (min) against the study's objective
    on validation (in its direction), smallest first."""
    points = []
    for v in ranked(r.views):
        size = num(v.row.get("param_count"))
        if size is not None and size > 0 and v.objective_value is not None:
            points.append((v.number, size, r.objective.key(v.objective_value)))
    by_number = {v.number: v for v in r.views}
    return [by_number[n] for n in pareto_front(points)]


def front_table_html(r: StudyReport) -> str:
    """The front's trials: size, the objective on validation, the test scores beside published
    numbers, and the searched values."""
    front = front_views(r)
    if not front:
        return '<p class="caption dim" id="pareto-empty">No complete trial with a parameter count yet: no front.</p>'
    metrics = summary_metrics()
    cond, assign = BESIDE_PUBLISHED
    head = ("<tr><th>Trial</th><th>Params</th>"
            f"<th>{esc(r.objective.label)} <span class=\"dim\">(validation, objective)</span></th>"
            + "".join(f"<th>{esc(m.label)} <span class=\"dim\">(test, {esc(cond)}, {esc(assign)})</span></th>"
                      for m in metrics)
            + "<th>Configuration</th></tr>")
    rows = []
    for v in front:
        config = configuration(r, v)
        cells = [f'<td class="num">#{v.number}</td>', f'<td class="num">{fmt_params(v.row.get("param_count"))}</td>',
                 f'<td class="num">{esc(r.objective.fmt(v.objective_value))}</td>']
        cells += [f'<td class="num">{fmt_db(v.published_score(m.name))}</td>' for m in metrics]
        cells.append(f"<td>{config}</td>")
        rows.append(f'<tr data-trial="{v.number}">{"".join(cells)}</tr>')
    return (f'<table class="pareto" id="pareto-table"><thead>{head}</thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')
