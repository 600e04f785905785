"""The HTML tables of ``sweep report`` and the formatting of their cells.

Two tables: the leaderboard (every trial) and, for each family with spectral-mask knobs, the
mask × activation table in the layout of the lecture's table for that family. Everything here
returns HTML fragments; :mod:`sweep.report.page` assembles the page. Every string that comes
from the database goes through :func:`esc`, because trial errors and parameter values are free
text (a traceback may quote ``<script>``).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from sweep.objective import EPOCH_METRICS
from sweep.report.views import TrialView, best_per_cell, leaderboard_order, num
from sweep.scoring.registry import TestMetric, summary_metrics
from sweep.scoring.registry import get as get_test_metric
from sweep.store import COMPLETE, FAILED, PRUNED, RUNNING

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["ASSIGNMENTS", "CONDITIONS", "ORACLE_ORDER", "OURS_LABEL", "config_keys", "configuration", "error_reason", "esc", "fmt_db", "fmt_duration",
           "fmt_epoch_metric", "fmt_params", "fmt_value", "leaderboard_html", "mask_table_html", "num",
           "oracle_note", "published_grid", "published_label", "several_families"]

OURS_LABEL = "ours (this study's data)"
CONDITIONS = ("closed", "open")
ASSIGNMENTS = ("optimal", "default")
ORACLE_ORDER = ("IPSM", "IRM", "IBM", "WFM")  # the lecture's table: IPSM above IRM
_SHORT = {"closed": "CC", "open": "OC", "optimal": "opt.", "default": "def."}
_CSV = {"closed": "cc", "open": "oc", "optimal": "opt", "default": "def"}  # reference CSV column parts


# -- formatting -----------------------------------------------------------------------------
def esc(value: Any) -> str:
    """HTML-escaped text of a DB value; None and NaN become the empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def fmt_db(value: Any, digits: int = 2) -> str:
    v = num(value)
    return "" if v is None else f"{v:.{digits}f}"


def fmt_params(count: Any) -> str:
    """Parameter count as the papers write it: ``1.23M``, ``456.8k``."""
    n = num(count)
    if n is None:
        return ""
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return f"{int(n)}"


def fmt_duration(seconds: Any) -> str:
    s = num(seconds)
    if s is None:
        return ""
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def fmt_value(v: Any) -> str:
    """A hyperparameter value, short: floats to 3 significant digits."""
    if isinstance(v, float):
        return f"{v:.3g}"
    return "" if v is None else str(v)


def error_reason(text: Any) -> str:
    """A failed trial's reason in one line: the first line of its stored error (the driver
    stores ``Type: message`` first), or the last line of a bare traceback."""
    lines = [ln.strip() for ln in (text if isinstance(text, str) else "").splitlines() if ln.strip()]
    if not lines:
        return "no error recorded"
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def fmt_epoch_metric(metric: str, value: Any) -> str:
    """An epoch metric's value: dB to 2 decimals, anything else to 4 significant digits."""
    v = num(value)
    if v is None:
        return ""
    return f"{v:.2f}" if EPOCH_METRICS[metric][1] == "dB" else f"{v:.4g}"


# -- leaderboard ----------------------------------------------------------------------------
def _score_text(v: TrialView, metric: str, condition: str, assignment: str) -> str:
    """``mean ± half-width`` of the 95% CI where per-utterance scores exist, else the mean."""
    ci = v.cis.get((metric, condition, assignment))
    if ci is not None and not math.isnan(ci.half_width):
        return f'{ci.mean:.2f} <span class="ci">± {ci.half_width:.2f}</span>'
    return fmt_db(v.score(metric, condition, assignment))


def _vs_best_cell(v: TrialView) -> str:
    verdict = v.verdict
    if verdict is None:
        return ""
    if verdict == "best":
        return '<span class="best">best</span>'
    r = v.vs_best
    label = '<span class="tie">≈ tied</span>' if verdict == "tied" else verdict
    return f'{label} <span class="dim">Δ {-r.mean_diff:+.2f} dB, p={r.p_value:.3g}, n={r.n}</span>'


def _status_cell(v: TrialView) -> str:
    epochs = int(num(v.row.get("epochs_done")) or 0)
    if v.status == FAILED:
        return f'<span class="st failed">failed</span><div class="err">{esc(error_reason(v.row.get("error")))}</div>'
    if v.status == PRUNED:
        return f'<span class="st pruned">pruned</span> <span class="dim">after epoch {epochs}</span>'
    if v.status == RUNNING:
        return f'<span class="st running">running</span> <span class="dim">epoch {epochs}</span>'
    return f'<span class="st {esc(v.status)}">{esc(v.status)}</span>'


def _score_columns(r: StudyReport) -> list[tuple[str, str]]:
    """(condition, assignment) per score column: optimal and default only where a family has both."""
    assigns = ASSIGNMENTS if r.has_optimal else ("default",)
    return [(c, a) for c in CONDITIONS for a in assigns]


def config_keys(r: StudyReport) -> list[str]:
    """The keys that tell a study's trials apart: its families' mask knobs, then the searched keys."""
    knobs = [name for k in r.mask_knobs.values() for name in (k.mask, k.activation)]
    return list(dict.fromkeys([*knobs, *r.searched]))


def configuration(r: StudyReport, v: TrialView) -> str:
    """``mask_type=PSM, activation=relu, hidden_size=64``: the trial's values of
    :func:`config_keys`, escaped."""
    return ", ".join(f"{esc(k)}={esc(fmt_value(v.params.get(k)))}" for k in config_keys(r) if k in v.params)


def several_families(r: StudyReport) -> bool:
    """Whether the study's trials come from more than one family (only then do rows name theirs)."""
    return len(set(r.families) | {v.family for v in r.views}) > 1


def _leaderboard_head(r: StudyReport, cols: list[tuple[str, str]]) -> tuple[str, int]:
    """The two header rows, and the number of columns."""
    family = ["Family"] if several_families(r) else []
    fixed_l = ["Rank", "Trial", *family, *(["Mask", "Activation"] if r.mask_knobs else []), *r.searched, "Params"]
    metrics = summary_metrics()
    epoch_heads = []
    for name, (label, unit, _) in EPOCH_METRICS.items():
        text = esc(f"{label} ({unit})" if unit else label)
        if name == r.objective.metric:
            text += f'<br><span class="dim">objective, {esc(r.objective.mode)}</span>'
        epoch_heads.append(f'<th rowspan="2" data-epoch-metric="{esc(name)}">{text}</th>')
    head1 = "".join(f'<th rowspan="2">{esc(h)}</th>' for h in fixed_l)
    head1 += "".join(f'<th colspan="{len(cols)}" class="grp">{esc(m.label)} ({esc(m.unit)}, test)</th>'
                     for m in metrics)
    head1 += '<th rowspan="2">vs best (paired t-test)</th>' + "".join(epoch_heads)
    head1 += "".join(f'<th rowspan="2">{h}</th>' for h in ("Epochs", "Status", "Wall time"))
    head2 = "".join(f'<th class="sub">{_SHORT[c]} {_SHORT[a]}</th>' for _ in metrics for c, a in cols)
    width = len(fixed_l) + len(metrics) * len(cols) + 1 + len(EPOCH_METRICS) + 3
    return f"<tr>{head1}</tr><tr>{head2}</tr>", width


def _leaderboard_row(r: StudyReport, v: TrialView, rank: int | None, cols: list[tuple[str, str]],
                     family_column: bool) -> str:
    p, row = v.params, v.row
    cells = [f'<td class="num">{"" if rank is None else rank}</td>', f'<td class="num">{v.number}</td>']
    if family_column:
        cells.append(f"<td>{esc(v.family)}</td>")
    if r.mask_knobs:
        knobs = r.mask_knobs.get(v.family)
        cells += [f"<td>{esc(fmt_value(p.get(k))) if knobs else ''}</td>"
                  for k in ((knobs.mask, knobs.activation) if knobs else ("", ""))]
    cells += [f"<td>{esc(fmt_value(p.get(k)))}</td>" for k in r.searched]
    cells.append(f'<td class="num">{fmt_params(row.get("param_count"))}</td>')
    for metric in summary_metrics():
        cells += [f'<td class="num score">{_score_text(v, metric.name, c, a)}</td>' for c, a in cols]
    cells.append(f'<td class="vs">{_vs_best_cell(v)}</td>')
    for name in EPOCH_METRICS:
        value = v.objective_value if name == r.objective.metric else v.last.get(name)
        cells.append(f'<td class="num">{fmt_epoch_metric(name, value)}</td>')
    cells += [f'<td class="num">{esc(row.get("epochs_done"))}</td>', f"<td>{_status_cell(v)}</td>",
              f'<td class="num">{fmt_duration(row.get("wall_s"))}</td>']
    tie = f' data-tie="{v.verdict}"' if v.verdict in ("best", "tied") else ""
    return f'<tr data-trial="{v.number}" class="{esc(v.status)}"{tie}>{"".join(cells)}</tr>'


def leaderboard_html(r: StudyReport) -> str:
    """The leaderboard, ranked by the study's objective; rows carry ``data-trial`` (and
    ``data-tie`` for the best and the trials tied with it) so tools and tests can read them."""
    cols = _score_columns(r)
    head, width = _leaderboard_head(r, cols)
    body, rank = [], 0
    family_column = several_families(r)  # once, not per row: it reads every trial
    for v in leaderboard_order(r.views, r.objective):
        ranked = v.status == COMPLETE and v.objective_value is not None
        rank += ranked
        body.append(_leaderboard_row(r, v, rank if ranked else None, cols, family_column))
    if not body:
        body.append(f'<tr><td colspan="{width}" class="dim">no trials yet</td></tr>')
    return (f'<table class="board" id="leaderboard-table"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


# -- the mask × activation table ------------------------------------------------------------
def published_grid(published: pd.DataFrame, family: str) -> tuple[str | None, pd.DataFrame]:
    """The published system of ``family``'s table with the most mask × activation rows (the
    table's main system, e.g. uPIT-BLSTM), and those rows; (None, empty) if the table has none."""
    rows = published[(published["table"] == family) & (published["mask"] != "oracle")
                     & published["mask"].notna() & published["activation"].notna()]
    if not len(rows):
        return None, rows
    system = str(rows["system"].value_counts().idxmax())
    return system, rows[rows["system"] == system]


def _pub_columns(published: pd.DataFrame, metric: str, cols: Sequence[tuple[str, str]]) -> list[str] | None:
    """The reference CSV's columns for ``metric`` in ``cols`` order, or None if it has not all of them."""
    names = [f"{metric}_{_CSV[a]}_{_CSV[c]}_db" for a, c in cols]
    return names if all(n in published.columns for n in names) else None


def _block_header(label: str, cls: str, cols: Sequence[tuple[str, str]]) -> tuple[str, str, str]:
    assigns = list(dict.fromkeys(a for a, _ in cols))
    per = len(cols) // len(assigns)
    return (f'<th colspan="{len(cols)}" class="{cls}">{esc(label)}</th>',
            "".join(f'<th colspan="{per}" class="{cls}">{a} assignment</th>' for a in assigns),
            "".join(f'<th class="{cls} sub">{_SHORT[c]}</th>' for _, c in cols))


def _column_best(best: dict, metric: TestMetric, cols: Sequence[tuple[str, str]]) -> dict:
    pick = max if metric.higher_is_better else min
    out = {}
    for a, c in cols:
        vals = [s for s in (v.score(metric.name, c, a) for v in best.values()) if s is not None]
        if vals:
            out[(a, c)] = pick(vals)
    return out


def _pub_cells(match: pd.DataFrame, pub_cols: list[str] | None) -> list[str]:
    if pub_cols is None:
        return []
    return [f'<td class="num pub">{fmt_db(match.iloc[0][n] if len(match) else None, 1)}</td>' for n in pub_cols]


def _oracle_rows(r: StudyReport, family: str, metric: str, cols: Sequence[tuple[str, str]],
                 pub_cols: list[str] | None) -> list[str]:
    """Our oracle masks (mean ± CI half-width), beside the published ones where the table has them."""
    oracle = r.oracle
    if oracle is None or not len(oracle) or metric not in oracle.columns:
        return []
    pub = r.published[(r.published["table"] == family) & (r.published["mask"] == "oracle")]
    masks = [m for m in ORACLE_ORDER if m in set(oracle["mask"])]
    rows = []
    for i, mask in enumerate(masks):
        cells = [f'<th rowspan="{len(masks)}" class="mask">oracle</th>'] if i == 0 else []
        cells += [f"<td>{esc(mask)}</td>", '<td class="num dim"></td>']
        for _, c in cols:  # an oracle has no output order: both assignments alike
            hit = oracle[(oracle["mask"] == mask) & (oracle["condition"] == c)]
            ci = num(hit.iloc[0].get(f"{metric}_ci")) if len(hit) else None
            text = fmt_db(hit.iloc[0][metric] if len(hit) else None)
            text += f' <span class="ci">± {ci:.2f}</span>' if ci is not None else ""
            cells.append(f'<td class="num ours oracle">{text}</td>')
        cells += _pub_cells(pub[pub["system"] == mask], pub_cols)
        rows.append(f'<tr class="oracle" data-oracle="{esc(mask)}">{"".join(cells)}</tr>')
    return rows


def mask_table_html(r: StudyReport, family: str, metric: TestMetric) -> str:
    """Mask × activation rows of ``family`` (the values its mask knobs allow): our best trial per
    cell by the objective, beside the published numbers of the family's table where the
    reference CSV has ``metric`` for it, then the oracle masks as the upper reference."""
    knobs = r.mask_knobs[family]
    masks, activations = r.mask_grid(family)
    cols = [(a, c) for a in (ASSIGNMENTS if r.has_optimal else ("default",)) for c in CONDITIONS]
    best = best_per_cell(r.views, r.objective, family, knobs.mask, knobs.activation)
    top = _column_best(best, metric, cols)
    system, pub = published_grid(r.published, family)
    pub_cols = _pub_columns(r.published, metric.name, cols) if system else None
    ours_h = _block_header(OURS_LABEL, "ours", cols)
    pub_h = _block_header(published_label(system), "pub", cols) if pub_cols else ("", "", "")
    head = (f'<tr><th rowspan="3">Mask</th><th rowspan="3">Activation</th><th rowspan="3">Trial</th>'
            f"{ours_h[0]}{pub_h[0]}</tr><tr>{ours_h[1]}{pub_h[1]}</tr><tr>{ours_h[2]}{pub_h[2]}</tr>")
    rows = []
    for mask in masks:
        for i, act in enumerate(activations):
            v = best.get((str(mask), str(act)))
            cells = [f'<th rowspan="{len(activations)}" class="mask">{esc(mask)}</th>'] if i == 0 else []
            cells += [f"<td>{esc(act)}</td>", f'<td class="num dim">{"#" + str(v.number) if v else ""}</td>']
            for a, c in cols:
                s = v.score(metric.name, c, a) if v else None
                bold = " top" if s is not None and top.get((a, c)) == s else ""
                cells.append(f'<td class="num ours{bold}">{fmt_db(s)}</td>')
            cells += _pub_cells(pub[(pub["mask"] == mask) & (pub["activation"] == act)], pub_cols)
            rows.append(f'<tr data-mask="{esc(mask)}" data-activation="{esc(act)}">{"".join(cells)}</tr>')
    rows += _oracle_rows(r, family, metric.name, cols, pub_cols)
    return (f'<table class="masks" data-family="{esc(family)}" data-metric="{esc(metric.name)}"><caption>'
            f"{esc(metric.label)} ({esc(metric.unit)}), mask × activation</caption>"
            f'<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')


def published_label(system: str | None) -> str:
    return f"published {system} (WSJ0-2mix)" if system else "published (WSJ0-2mix)"


def oracle_note(published: pd.DataFrame, family: str, metric: str = "sdri") -> str:
    """One line with the oracle masks' published ``metric`` in ``family``'s table, the ceiling the
    table is read against; empty when the table has none."""
    names = [f"{metric}_opt_cc_db", f"{metric}_opt_oc_db"]
    if not all(n in published.columns for n in names):
        return ""
    rows = published[(published["table"] == family) & (published["mask"] == "oracle")]
    parts = [f"{esc(r['system'])} {fmt_db(r[names[0]], 1)} (CC) / {fmt_db(r[names[1]], 1)} (OC)"
             for r in rows.to_dict("records")]
    label = get_test_metric(metric).label
    return (f"Published oracle masks on WSJ0-2mix, {esc(label)} dB: " + "; ".join(parts) + ".") if parts else ""
