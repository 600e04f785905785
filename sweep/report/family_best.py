"""The per-family best table, in the layout of the lecture's Conv-TasNet, DPRNN and SepFormer
tables: method, parameters, causal, SI-SNRi, SDRi.

Per family of the study, our row is its best complete trial by the study's objective on
validation (:func:`sweep.report.ranking.best_trial`), with its test scores at
:data:`~sweep.report.views.BESIDE_PUBLISHED`; below it come the published rows of that family's
table in ``sweep/reference/published_wsj0_2mix.csv`` (the ``table`` column names the family)
and the systems the family declares it reproduces (``Family.published_systems``), without the mask × activation rows, which have a table of their own. Whether our trial is
causal is asked of the family (:attr:`sweep.models.Family.causal_params`), never of its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from sweep.models import get_family
from sweep.report.ranking import best_trial
from sweep.report.tables import esc, fmt_db, fmt_params
from sweep.report.views import BESIDE_PUBLISHED, TrialView, num

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["family_rows", "family_table_html", "is_causal", "published_rows"]

_COLUMNS = (("si_snri", "si_snri_db", "SI-SNRi (dB)"), ("sdri", "sdri_db", "SDRi (dB)"))


def is_causal(family: str, params: dict[str, Any]) -> bool | None:
    """True when ``params`` carry every override of the family's causal variant; False for a
    family without one; None for a family that is not registered (an old study)."""
    try:
        causal = get_family(family).causal_params
    except KeyError:
        return None
    return bool(causal) and all(params.get(k) == v for k, v in causal.items())


def published_rows(published: pd.DataFrame, family: str) -> pd.DataFrame:
    """The published rows of ``family`` with a size or a score, mask × activation rows left out:
    its own table's (``table`` column == the family's name) and the systems it declares it
    reproduces (:attr:`sweep.models.Family.published_systems`), from whichever table has them.
    A system in several tables is listed once, from the table that says most about it."""
    try:
        systems = get_family(family).published_systems
    except KeyError:  # a family no longer registered (an old study): its own table only
        systems = ()
    rows = published[((published["table"] == family) | published["system"].isin(systems))
                     & published["activation"].isna()]
    rows = rows[rows[["params_m", "si_snri_db", "sdri_db"]].notna().any(axis=1)].reset_index(drop=True)
    known = rows[["params_m", "si_snri_db", "sdri_db"]].notna().sum(axis=1)
    keep = known.groupby(rows["system"]).idxmax()
    return rows.loc[sorted(keep)]


def family_rows(r: StudyReport) -> dict[str, TrialView | None]:
    """Family -> its best complete trial by the objective (None when it has none yet)."""
    return {f: best_trial([v for v in r.views if v.family == f], r.objective) for f in r.families}


def _causal_text(value: Any) -> str:
    if value is True or str(value).lower() == "yes":
        return "yes"
    if value is False or str(value).lower() == "no":
        return "no"
    return ""


def _our_row(family: str, v: TrialView | None) -> str:
    if v is None:
        return (f'<tr class="ours" data-family="{esc(family)}"><td>ours ({esc(family)})</td>'
                '<td colspan="4" class="dim">no complete trial yet</td></tr>')
    cells = [f"<td><b>ours</b>: trial #{v.number}</td>", f'<td class="num">{fmt_params(v.row.get("param_count"))}</td>',
             f"<td>{_causal_text(is_causal(family, v.params))}</td>"]
    cells += [f'<td class="num">{fmt_db(v.published_score(metric))}</td>' for metric, _, _ in _COLUMNS]
    return f'<tr class="ours" data-family="{esc(family)}" data-trial="{v.number}">{"".join(cells)}</tr>'


def _published_row(row: dict) -> str:
    params = num(row.get("params_m"))
    oracle = ' <span class="dim">(oracle)</span>' if str(row.get("mask")) == "oracle" else ""
    cells = [f"<td>{esc(row['system'])}{oracle}</td>",
             f'<td class="num">{"" if params is None else f"{params:g}M"}</td>',
             f"<td>{_causal_text(row.get('causal'))}</td>"]
    cells += [f'<td class="num">{fmt_db(row.get(col), 1)}</td>' for _, col, _ in _COLUMNS]
    return f'<tr class="pub" data-system="{esc(row["system"])}">{"".join(cells)}</tr>'


def _inference_note(family: str) -> str:
    try:
        kind = get_family(family).inference
    except KeyError:
        return ""
    return "" if kind == "direct" else f' <span class="dim">({esc(kind)} inference)</span>'


def family_table_html(r: StudyReport) -> str:
    """One table per family of the study: our best trial above the family's published rows."""
    cond, assign = BESIDE_PUBLISHED
    parts = []
    for family, best in family_rows(r).items():
        pub = published_rows(r.published, family)
        head = ("<tr><th>Method</th><th>Params</th><th>Causal</th>"
                + "".join(f"<th>{esc(label)}</th>" for _, _, label in _COLUMNS) + "</tr>")
        rows = [_our_row(family, best)] + [_published_row(row) for row in pub.to_dict("records")]
        note = "" if len(pub) else (f'<p class="caption dim">The lecture has no table of {esc(family)} in this '
                                    "layout: our row stands alone.</p>")
        title = f"<h3>{esc(family)}{_inference_note(family)}</h3>" if len(r.families) > 1 else ""
        parts.append(f'{title}<table class="family-best" data-family="{esc(family)}"><thead>{head}</thead>'
                     f'<tbody>{"".join(rows)}</tbody></table>{note}')
    caption = (f'<p class="caption">Per family, our best trial by the objective (on validation), with its test '
               f"scores on the {esc(cond)} condition, {esc(assign)} assignment (the scatter's), above the published "
               "WSJ0-2mix rows of the family's table in the lecture (italic).</p>")
    return caption + "".join(parts)
