"""``sweep results STUDY --format csv|json|latex``: a study's numbers for a paper or a notebook.

CSV and JSON hold the same rows: one per trial × test condition × output assignment, with the
trial's status, rank and objective value (the report's rule, :mod:`sweep.report.ranking`),
every parameter it ran with (``params.<key>``), and each summary test metric (mean in dB and
the half-width of its 95% Student-t interval where per-utterance scores are stored). A trial
with no test rows (pruned, failed, running) gets one row with an empty condition, so the export
accounts for every trial. LaTeX is the lecture's uPIT table (booktabs): rows mask × activation
for families with mask knobs (the best trial per cell by the objective), else one row per
complete trial in rank order; columns metric × assignment × condition, the metrics the
published table has first (SDRi), as in the lecture.

Everything is read through :func:`sweep.report.study.load_study` (one read-only pass).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from sweep.report.study import StudyReport
from sweep.report.tables import ASSIGNMENTS, CONDITIONS, config_keys, error_reason, fmt_value
from sweep.report.views import TrialView, best_per_cell, leaderboard_order
from sweep.scoring.registry import TestMetric, summary_metrics
from sweep.store import COMPLETE, PRUNED

__all__ = ["FORMATS", "render_results", "result_rows"]

FORMATS = ("csv", "json", "latex")
_SHORT = {"closed": "CC", "open": "OC", "optimal": "opt.", "default": "def."}


def _ranks(r: StudyReport) -> dict[int, int]:
    """Trial number -> leaderboard rank (complete trials with an objective value only)."""
    ranked = [v for v in leaderboard_order(r.views, r.objective) if v.status == COMPLETE
              and v.objective_value is not None]
    return {v.number: i for i, v in enumerate(ranked, 1)}


def _param_keys(r: StudyReport) -> list[str]:
    """Every parameter any trial ran with: mask knobs and searched ones first, then the rest sorted."""
    seen, first = sorted({k for v in r.views for k in v.params}), config_keys(r)
    return [*[k for k in first if k in seen], *[k for k in seen if k not in first]]


def _test_keys(v: TrialView) -> list[tuple[str | None, str | None]]:
    """(condition, assignment) of each test row the trial has, in the report's order."""
    have = {(c, a) for _, c, a in v.scores}
    keys = [(c, a) for c in CONDITIONS for a in ASSIGNMENTS if (c, a) in have]
    return keys + sorted(k for k in have if k not in keys) or [(None, None)]


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def result_rows(r: StudyReport) -> list[dict[str, Any]]:
    """The export's rows, in trial-number order, each with the same keys (None where empty)."""
    ranks, keys, metric = _ranks(r), _param_keys(r), r.objective.metric
    best = r.best.number if r.best else None
    rows = []
    for v in sorted(r.views, key=lambda v: v.number):
        base = {"study": r.row.name, "trial": v.number, "status": v.status, "family": v.family,
                "rank": ranks.get(v.number), "best": v.number == best, metric: v.objective_value,
                "param_count": _int(v.row.get("param_count")), "epochs_done": _int(v.row.get("epochs_done")),
                "wall_s": _finite(_float(v.row.get("wall_s"))),
                "reason": _reason(v)}
        base.update({f"params.{k}": v.params.get(k) for k in keys})
        for cond, assign in _test_keys(v):
            row = dict(base, condition=cond, assignment=assign,
                       n_utterances=v.n_utterances.get((cond, assign)) if cond else None)
            for m in summary_metrics():
                ci = v.cis.get((m.name, cond, assign))
                row[m.name] = v.score(m.name, cond, assign) if cond else None
                row[f"{m.name}_ci95"] = _finite(ci.half_width) if ci is not None else None
            rows.append(row)
    return rows


def _reason(v: TrialView) -> str | None:
    """Why a trial did not complete, in one line (failed: its error; pruned: the scheduler)."""
    error = v.row.get("error")
    if isinstance(error, str) and error.strip():
        return error_reason(error)
    return "stopped early by the scheduler" if v.status == PRUNED else None


def _int(value: Any) -> int | None:
    f = _float(value)
    return None if f is None or not math.isfinite(f) else int(f)


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell: JSON for lists and dicts (a parameter may be one), empty for None."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def render_results(r: StudyReport, fmt: str) -> str:
    """The study's results as text in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "csv":
        return _csv(result_rows(r))
    if fmt == "json":
        return json.dumps(result_rows(r), indent=1, default=str) + "\n"
    if fmt == "latex":
        return latex_table(r)
    raise ValueError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")


# -- LaTeX: the lecture's uPIT table ---------------------------------------------------------
def tex(text: Any) -> str:
    """``text`` with LaTeX's special characters escaped."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(special.get(ch, ch) for ch in str(text))


def _latex_metrics(r: StudyReport) -> list[TestMetric]:
    """Summary metrics, those the published tables give per assignment first (the lecture's SDRi)."""
    published = set(r.published.columns)
    lecture = [m for m in summary_metrics() if f"{m.name}_opt_cc_db" in published]
    return lecture + [m for m in summary_metrics() if m not in lecture]


def _latex_rows(r: StudyReport) -> list[tuple[list[str], TrialView | None]]:
    """(label cells, trial) per row: mask × activation grids first, then trials of other families."""
    rows: list[tuple[list[str], TrialView | None]] = []
    for family in sorted(r.mask_knobs):
        knobs = r.mask_knobs[family]
        best = best_per_cell(r.views, r.objective, family, knobs.mask, knobs.activation)
        masks, activations = r.mask_grid(family)
        for mask in masks:
            for i, act in enumerate(activations):
                v = best.get((str(mask), str(act)))
                rows.append(([tex(mask) if i == 0 else "", tex(act)], v))
    for v in leaderboard_order(r.views, r.objective):
        if v.status == COMPLETE and v.scores and v.family not in r.mask_knobs:
            label = ", ".join(f"{k}={fmt_value(v.params.get(k))}" for k in r.searched if k in v.params)
            rows.append(([f"\\#{v.number}", tex(label or v.family)], v))
    return rows


def latex_table(r: StudyReport) -> str:
    """A booktabs ``tabular`` in the lecture's uPIT-table layout (dB, 2 decimals; -- where no trial)."""
    metrics = _latex_metrics(r)
    assigns = ASSIGNMENTS if r.has_optimal else ("default",)
    cols = [(a, c) for a in assigns for c in CONDITIONS]
    label = ("Mask", "Activation") if r.mask_knobs else ("Trial", "Configuration")
    n = len(cols)
    lines = [f"% sweep results {r.row.name}: test scores (dB); rows picked by {r.objective.mode} "
             f"{r.objective.metric} on validation",
             "\\begin{tabular}{ll" + ("r" * n) * len(metrics) + "}", "\\toprule",
             " & & " + " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{tex(m.label)} ({tex(m.unit)})}}" for m in metrics) + " \\\\",
             " & & " + " & ".join(f"\\multicolumn{{{len(CONDITIONS)}}}{{c}}{{{_SHORT[a]} assign.}}"
                                  for _ in metrics for a in assigns) + " \\\\",
             f"{label[0]} & {label[1]} & " + " & ".join(_SHORT[c] for _ in metrics for _, c in cols) + " \\\\",
             "\\midrule"]
    for cells, v in _latex_rows(r):
        values = [_tex_score(v, m, c, a) for m in metrics for a, c in cols]
        lines.append(" & ".join([*cells, *values]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _tex_score(v: TrialView | None, metric: TestMetric, condition: str, assignment: str) -> str:
    s = v.score(metric.name, condition, assignment) if v is not None else None
    return "--" if s is None else f"{s:.2f}"
