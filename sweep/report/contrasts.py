"""Paired contrasts: what a study's systems differ by, measured on the same test utterances.

Two tables, each over the *best trial of each group* (by the study's objective on validation,
:func:`sweep.report.ranking.best_trial`; the test set never picks it). A group is a variant of a
cross-variant study (the ``variant`` parameter), else a family.

* **Assignment gap**: for every group whose best trial was scored with both the ``optimal``
  (oracle) and the ``default`` output assignment, per metric and test condition, the two means
  and the paired difference optimal − default. A model that separates well but cannot keep a
  speaker on the same output (frame-level PIT) has a large gap; uPIT's is small.
* **Between groups**: every group's best against every other (closed condition, SI-SNRi; the
  default assignment, and the optimal one where both have it): the paired difference A − B,
  A being the group ranked higher on validation. With more than :data:`MAX_GROUPS` groups,
  only each against the best group.

Every number is a mean over the utterances both sides scored (dB) ± the half-width of its 95%
Student-t interval; p is the two-sided paired t-test (:mod:`sweep.scoring.stats`). Pairing
removes the utterance-to-utterance spread that unpaired intervals carry, so a difference can be
significant while the two means' intervals overlap. The plain sentences under each table are
written from these numbers, never from what the papers say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from sweep.report.ranking import best_trial
from sweep.report.tables import esc
from sweep.report.views import TIE_METRIC, TrialView
from sweep.scoring.registry import get as get_test_metric
from sweep.scoring.registry import summary_metrics
from sweep.scoring.stats import ALPHA, MeanCI, PairedDifference, mean_ci, paired_difference
from sweep.store import COMPLETE

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["GapRow", "MAX_GROUPS", "PairRow", "contrasts_html", "fmt_p", "gap_rows", "group_bests",
           "has_contrasts", "pair_rows"]

MAX_GROUPS = 8
"""Above this many groups the between-groups table compares each only with the best group."""
CONDITIONS = ("closed", "open")


@dataclass(frozen=True)
class GapRow:
    """Optimal against default assignment of one group's best trial, one metric and condition (dB)."""

    group: str
    trial: int
    metric: str
    condition: str
    default: MeanCI
    optimal: MeanCI
    gap: PairedDifference  # optimal − default


@dataclass(frozen=True)
class PairRow:
    """Group ``a``'s best trial against group ``b``'s on one metric, condition and assignment (dB)."""

    a: str
    b: str
    trial_a: int
    trial_b: int
    metric: str
    condition: str
    assignment: str
    mean_a: MeanCI
    mean_b: MeanCI
    diff: PairedDifference  # a − b


def _group_of(v: TrialView, by_variant: bool) -> str:
    return str(v.params.get("variant")) if by_variant else v.family


def group_bests(r: StudyReport) -> dict[str, TrialView]:
    """Group name -> its best complete trial by the objective (the report's one rule), best group
    first (ties: the lower trial number). Groups are variants when the study has them, else
    families. A best trial without per-utterance scores stays: its rows are simply left out."""
    complete = [v for v in r.views if v.status == COMPLETE]
    by_variant = any("variant" in v.params for v in complete)
    groups: dict[str, list[TrialView]] = {}
    for v in complete:
        groups.setdefault(_group_of(v, by_variant), []).append(v)
    bests = {g: best_trial(vs, r.objective) for g, vs in groups.items()}
    found = {g: v for g, v in bests.items() if v is not None}

    def rank(group: str) -> tuple[float, int]:
        return (-r.objective.key(found[group].objective_value), found[group].number)

    return {g: found[g] for g in sorted(found, key=rank)}


def _paired(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[MeanCI, MeanCI, PairedDifference] | None:
    """Both means over the common utterances and the paired difference a − b; None below two."""
    common = sorted(set(a) & set(b))
    if len(common) < 2:
        return None
    return (mean_ci([a[k] for k in common]), mean_ci([b[k] for k in common]), paired_difference(a, b))


def gap_rows(r: StudyReport) -> list[GapRow]:
    """Optimal − default per group, metric and condition, where a best trial has both."""
    rows = []
    for group, v in group_bests(r).items():
        for metric in (m.name for m in summary_metrics()):
            for cond in CONDITIONS:
                opt = v.utterances.get((metric, cond, "optimal"), {})
                paired = _paired(opt, v.utterances.get((metric, cond, "default"), {}))
                if paired is not None:
                    rows.append(GapRow(group, v.number, metric, cond, paired[1], paired[0], paired[2]))
    return rows


def _pairs(groups: list[str]) -> list[tuple[str, str]]:
    """Every pair, higher-ranked first; above MAX_GROUPS groups only the best against each."""
    if len(groups) > MAX_GROUPS:
        return [(groups[0], g) for g in groups[1:]]
    return [(a, b) for i, a in enumerate(groups) for b in groups[i + 1:]]


def pair_rows(r: StudyReport, metric: str = TIE_METRIC, condition: str = "closed") -> list[PairRow]:
    """A − B between the groups' best trials, default assignment, then optimal where both have it."""
    bests = group_bests(r)
    rows = []
    for assignment in ("default", "optimal"):
        key = (metric, condition, assignment)
        for a, b in _pairs(list(bests)):
            va, vb = bests[a], bests[b]
            paired = _paired(va.utterances.get(key, {}), vb.utterances.get(key, {}))
            if paired is not None:
                rows.append(PairRow(a, b, va.number, vb.number, metric, condition, assignment, *paired))
    return rows


def has_contrasts(r: StudyReport) -> bool:
    """Whether the section has a table to show."""
    return bool(gap_rows(r) or pair_rows(r))


# -- text -------------------------------------------------------------------------------------
def fmt_p(p: float) -> str:
    """``p < 0.001`` or ``p = 0.012``."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ci(m: MeanCI) -> str:
    """``5.10 ± 0.30`` (dB), or the bare mean when there is no interval (one utterance)."""
    return f"{m.mean:.2f}" if math.isnan(m.half_width) else f"{m.mean:.2f} ± {m.half_width:.2f}"


def _default_verdict(row: GapRow) -> str:
    """Whether the default assignment collapses, in words: a significant gap alone would not say it
    (a frame-wise oracle always gains a little). The test metrics are improvements over the
    mixture, so 0 dB is the unprocessed mixture."""
    d, hw = row.default.mean, 0.0 if math.isnan(row.default.half_width) else row.default.half_width
    if d + hw < 0:
        return "with the default assignment the output is worse than the unprocessed mixture"
    if d - hw <= 0:
        return "with the default assignment the output is not distinguishable from the unprocessed mixture"
    if row.optimal.mean <= 0:
        return "the optimal assignment shows no improvement to compare with"
    return f"the default assignment keeps {100.0 * d / row.optimal.mean:.0f}% of the optimal improvement"


def _gap_sentence(row: GapRow) -> str:
    """One group's assignment gap in words, computed from the row."""
    label = get_test_metric(row.metric).label
    verdict = "a significant gap" if row.gap.p_value < ALPHA else "no gap this test set can separate from zero"
    return (f"<b>{esc(row.group)}</b> ({esc(label)}, {esc(row.condition)} condition): default assignment "
            f"{_ci(row.default)} dB, optimal {_ci(row.optimal)} dB (gap {_ci(row.gap.diff)} dB, "
            f"{esc(fmt_p(row.gap.p_value))}): {verdict}; {_default_verdict(row)}.")


def _pair_sentence(row: PairRow) -> str:
    """One pair's difference in words: who beats whom, or that the test set cannot tell."""
    metric = get_test_metric(row.metric)
    where = f"{esc(metric.label)}, {esc(row.condition)} condition, {esc(row.assignment)} assignment"
    d, p = row.diff.diff, esc(fmt_p(row.diff.p_value))
    a, b = esc(row.a), esc(row.b)
    if row.diff.p_value >= ALPHA:
        return (f"<b>{a}</b> and <b>{b}</b> are not separable "
                f"({where}: {a} − {b} = {_ci(d)} dB, {p}, {d.n} utterances).")
    win, lose = (a, b) if (d.mean > 0) == metric.higher_is_better else (b, a)
    return (f"<b>{win}</b> beats <b>{lose}</b> by {abs(d.mean):.2f} ± {d.half_width:.2f} dB "
            f"({where}; {p}, {d.n} utterances).")


# -- HTML -------------------------------------------------------------------------------------
def _num(m: MeanCI) -> str:
    """A mean ± CI cell: the mean, the half-width in the dimmer ``ci`` span."""
    hw = "" if math.isnan(m.half_width) else f' <span class="ci">± {m.half_width:.2f}</span>'
    return f'<td class="num">{m.mean:.2f}{hw}</td>'


def _p_cell(p: float) -> str:
    cls = "num" if p < ALPHA else "num tie"
    return f'<td class="{cls}">{esc(fmt_p(p))}</td>'


def _gap_table(rows: list[GapRow]) -> str:
    head = ("<tr><th>Group</th><th>Trial</th><th>Metric</th><th>Condition</th><th>Default (dB)</th>"
            "<th>Optimal (dB)</th><th>Optimal − default (dB)</th><th>p</th><th>n</th></tr>")
    body = "".join(
        f'<tr data-group="{esc(x.group)}" data-metric="{esc(x.metric)}" data-condition="{esc(x.condition)}">'
        f"<td>{esc(x.group)}</td><td>#{x.trial}</td><td>{esc(get_test_metric(x.metric).label)}</td>"
        f"<td>{esc(x.condition)}</td>{_num(x.default)}{_num(x.optimal)}{_num(x.gap.diff)}"
        f"{_p_cell(x.gap.p_value)}<td class=\"num\">{x.gap.diff.n}</td></tr>" for x in rows)
    return f'<table class="contrasts" id="assignment-gap"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _pair_table(rows: list[PairRow]) -> str:
    head = ("<tr><th>A</th><th>B</th><th>Assignment</th><th>A (dB)</th><th>B (dB)</th>"
            "<th>A − B (dB)</th><th>p</th><th>n</th></tr>")
    body = "".join(
        f'<tr data-a="{esc(x.a)}" data-b="{esc(x.b)}" data-assignment="{esc(x.assignment)}">'
        f"<td>{esc(x.a)} <span class=\"dim\">#{x.trial_a}</span></td>"
        f"<td>{esc(x.b)} <span class=\"dim\">#{x.trial_b}</span></td><td>{esc(x.assignment)}</td>"
        f"{_num(x.mean_a)}{_num(x.mean_b)}{_num(x.diff.diff)}{_p_cell(x.diff.p_value)}"
        f"<td class=\"num\">{x.diff.diff.n}</td></tr>" for x in rows)
    return f'<table class="contrasts" id="between-groups"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _lessons(element_id: str, sentences: list[str]) -> str:
    items = "".join(f"<li>{s}</li>" for s in sentences)
    return f'<ul class="lessons" id="{element_id}">{items}</ul>' if items else ""


def _gap_part(rows: list[GapRow]) -> str:
    """Caption, table and, for the closed condition's SI-SNRi, one sentence per group (largest gap first)."""
    caption = ('<p class="caption">Assignment gap: for each group\'s best trial (by the objective, on validation), '
               "the test score with the default output assignment (the order the network emits) and with the "
               "optimal (oracle) assignment, and their paired difference over the same utterances: means ± 95% "
               "CI half-width, two-sided paired t-test.</p>")
    told = sorted((x for x in rows if x.metric == TIE_METRIC and x.condition == "closed"),
                  key=lambda x: -x.gap.diff.mean)
    return (caption + f'<div class="scroll">{_gap_table(rows)}</div>'
            + _lessons("assignment-gap-lessons", [_gap_sentence(x) for x in told]))


def _pair_part(rows: list[PairRow], n_groups: int) -> str:
    """Caption, table and, for the default assignment, one sentence per pair."""
    scope = ("every pair" if n_groups <= MAX_GROUPS
             else f"each against the best (more than {MAX_GROUPS} groups)")
    metric = get_test_metric(TIE_METRIC).label
    caption = (f'<p class="caption">Between groups, {scope}: test {esc(metric)} on the closed condition of the '
               "best trials, A ranked above B on validation, paired over the utterances both scored: A − B ± 95% CI "
               "half-width, two-sided paired t-test.</p>")
    told = [_pair_sentence(x) for x in rows if x.assignment == "default"]
    return caption + f'<div class="scroll">{_pair_table(rows)}</div>' + _lessons("between-groups-lessons", told)


def contrasts_html(r: StudyReport) -> str:
    """The section's body: the assignment-gap part and the between-groups part, each when it has rows."""
    gaps, pairs = gap_rows(r), pair_rows(r)
    parts = []
    if gaps:
        parts.append("<h3>Optimal against default assignment</h3>" + _gap_part(gaps))
    if pairs:
        parts.append("<h3>Between groups</h3>" + _pair_part(pairs, len(group_bests(r))))
    return "".join(parts)
