"""The HTML tables of ``sweep report``: the leaderboard and the uPIT table in the lecture's layout.

Everything here returns HTML fragments; ``sweep.report`` assembles the page. Every string that
comes from the database goes through :func:`esc`, because trial errors and parameter values are
free text (a traceback may quote ``<script>``).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

from sweep.stats import ALPHA, MeanCI, PairedResult, mean_ci, ties_with_best
from sweep.store import COMPLETE, FAILED, PRUNED, RUNNING

REFERENCE_CSV = Path(__file__).resolve().parent / "reference" / "published_wsj0_2mix.csv"
PUBLISHED_UPIT_LABEL = "published WSJ0-2mix (Kolbaek et al. 2017)"
OURS_LABEL = "ours (this study's data)"

CONDITIONS = ("closed", "open")
ASSIGNMENTS = ("optimal", "default")
MASKS = ("AM", "PSM", "NPSM")
ACTIVATIONS = ("softmax", "sigmoid", "relu", "tanh")
# The lecture's column order: optimal assignment (CC, OC), then default assignment (CC, OC).
UPIT_COLUMNS = tuple((a, c) for a in ASSIGNMENTS for c in CONDITIONS)
_CSV_SDRI = {("optimal", "closed"): "sdri_opt_cc_db", ("optimal", "open"): "sdri_opt_oc_db",
             ("default", "closed"): "sdri_def_cc_db", ("default", "open"): "sdri_def_oc_db"}
_SHORT = {"closed": "CC", "open": "OC", "optimal": "opt.", "default": "def."}
_STATUS_ORDER = {RUNNING: 0, PRUNED: 1, FAILED: 2}


# -- formatting -----------------------------------------------------------------------------
def esc(value: Any) -> str:
    """HTML-escaped text of a DB value; None and NaN become the empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def num(value: Any) -> float | None:
    """A float, or None for None / NaN / non-numbers (pandas hands back all three for SQL NULL)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


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


# -- inputs ---------------------------------------------------------------------------------
def load_published(path: Path = REFERENCE_CSV) -> pd.DataFrame:
    """The lecture's published WSJ0-2mix numbers (one row per table × system × mask × activation)."""
    return pd.read_csv(path)


@dataclass
class TrialView:
    """One trial as the report needs it: the row plus its test scores keyed (metric, condition, assignment)."""

    row: dict[str, Any]
    scores: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # Per-utterance scores {(metric, condition, assignment): {utterance: dB}} and their CIs.
    utterances: dict[tuple[str, str, str], dict[str, float]] = field(default_factory=dict)
    cis: dict[tuple[str, str, str], MeanCI] = field(default_factory=dict)
    # Paired test of the ranking score against the best trial; None for the best itself.
    vs_best: PairedResult | None = None
    is_best: bool = False

    @property
    def number(self) -> int:
        return int(self.row["number"])

    @property
    def status(self) -> str:
        return str(self.row["status"])

    @property
    def params(self) -> dict[str, Any]:
        p = self.row.get("params")
        if isinstance(p, str):  # a JSON column read back as text (backends differ)
            try:
                p = json.loads(p)
            except ValueError:
                p = None
        return p if isinstance(p, dict) else {}

    def score(self, metric: str, condition: str, assignment: str) -> float | None:
        return self.scores.get((metric, condition, assignment))

    def rank_key(self) -> float | None:
        """Closed-condition test SI-SNRi, optimal assignment where the family has it, else default."""
        v = self.score("si_snri", "closed", "optimal")
        return self.score("si_snri", "closed", "default") if v is None else v

    def rank_utterances(self) -> dict[str, float]:
        """The per-utterance scores behind :meth:`rank_key` (empty when not stored)."""
        if self.score("si_snri", "closed", "optimal") is not None:
            return self.utterances.get(("si_snri", "closed", "optimal"), {})
        return self.utterances.get(("si_snri", "closed", "default"), {})

    @property
    def tied(self) -> bool:
        """Not significantly worse than the best trial (paired t-test, p >= ALPHA)."""
        return self.vs_best is not None and self.vs_best.p_value >= ALPHA


def trial_views(trials: pd.DataFrame, results: pd.DataFrame,
                utterances: pd.DataFrame | None = None) -> list[TrialView]:
    """Join the ``Store.frames`` trials and results (and ``Store.utterance_frame``) into one
    view per trial; with utterances, also the 95% CIs and the paired tests against the best."""
    views = {int(r["id"]): TrialView(r) for r in trials.to_dict("records")}
    for r in results.to_dict("records"):
        view = views.get(int(r["trial_id"]))
        if view is None:
            continue
        for metric in ("si_snri", "sdri"):
            v = num(r[metric])
            if v is not None:
                view.scores[(metric, str(r["condition"]), str(r["assignment"]))] = v
    if utterances is not None and len(utterances):
        for r in utterances.to_dict("records"):
            view = views.get(int(r["trial_id"]))
            if view is None:
                continue
            for metric in ("si_snri", "sdri"):
                v = num(r[metric])
                if v is not None:
                    key = (metric, str(r["condition"]), str(r["assignment"]))
                    view.utterances.setdefault(key, {})[str(r["utterance"])] = v
        for view in views.values():
            view.cis = {k: mean_ci(list(u.values())) for k, u in view.utterances.items() if u}
        ranked = {v.number: v for v in views.values() if v.status == COMPLETE and v.rank_utterances()}
        for number, res in ties_with_best({n: v.rank_utterances() for n, v in ranked.items()}).items():
            ranked[number].vs_best, ranked[number].is_best = res, res is None
    return list(views.values())


def searched_keys(spec_yaml: str | None, views: Iterable[TrialView]) -> list[str]:
    """Parameter names that were searched, without mask and activation (they have own columns).

    The stored YAML says what was declared a domain; keys whose values differ between trials are
    added too, because a study resumed from an edited spec can mix values the YAML no longer shows.
    """
    keys: list[str] = []
    try:
        top = yaml.safe_load(spec_yaml or "") or {}
    except yaml.YAMLError:
        top = {}
    for section, prefix in (("params", ""), ("train", "train.")):
        items = top.get(section) if isinstance(top, dict) else None
        for name, dom in (items or {}).items() if isinstance(items, dict) else ():
            if isinstance(dom, dict) and not (list(dom) == ["choice"] and len(dom.get("choice") or []) <= 1):
                keys.append(f"{prefix}{name}")
    views = list(views)
    if any("variant" in v.params for v in views):
        # A cross-family study: each family has its own parameters, so one column per
        # parameter would be mostly blank; the variant name says which configuration ran.
        return ["variant", *[k for k in keys if k.startswith("train.")]]
    seen: dict[str, set[str]] = {}
    for v in views:
        for k, val in v.params.items():
            seen.setdefault(k, set()).add(repr(val))
    keys += sorted(k for k, vals in seen.items() if len(vals) > 1 and k not in keys)
    return [k for k in keys if k not in ("mask", "mask_type", "activation")]


def leaderboard_order(views: list[TrialView]) -> list[TrialView]:
    """Complete trials by closed-condition SI-SNRi (best first); unscored and incomplete ones after."""
    def key(v: TrialView) -> tuple:
        score = v.rank_key()
        if v.status == COMPLETE and score is not None:
            return (0, -score, v.number)
        if v.status == COMPLETE:
            return (1, 0.0, v.number)
        valid = num(v.row.get("valid_si_snri"))
        return (2, _STATUS_ORDER.get(v.status, 3), -(valid if valid is not None else -math.inf), v.number)
    return sorted(views, key=key)


# -- leaderboard ----------------------------------------------------------------------------
def _score_text(v: TrialView, metric: str, condition: str, assignment: str) -> str:
    """``mean ± half-width`` of the 95% CI where per-utterance scores exist, else the mean."""
    ci = v.cis.get((metric, condition, assignment))
    if ci is not None and not math.isnan(ci.half_width):
        return f'{ci.mean:.2f} <span class="ci">± {ci.half_width:.2f}</span>'
    return fmt_db(v.score(metric, condition, assignment))


def _vs_best_cell(v: TrialView) -> str:
    if v.is_best:
        return '<span class="best">best</span>'
    if v.vs_best is None:
        return ""
    r = v.vs_best
    verdict = '<span class="tie">≈ tied</span>' if v.tied else "worse"
    return f'{verdict} <span class="dim">Δ {-r.mean_diff:+.2f} dB, p={r.p_value:.3g}, n={r.n}</span>'


def _status_cell(v: TrialView) -> str:
    epochs = int(num(v.row.get("epochs_done")) or 0)
    if v.status == FAILED:
        lines = [ln for ln in str(v.row.get("error") or "").splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else "no error recorded"
        return f'<span class="st failed">failed</span><div class="err">{esc(last)}</div>'
    if v.status == PRUNED:
        return f'<span class="st pruned">pruned</span> <span class="dim">after epoch {epochs}</span>'
    if v.status == RUNNING:
        return f'<span class="st running">running</span> <span class="dim">epoch {epochs}</span>'
    return f'<span class="st {esc(v.status)}">{esc(v.status)}</span>'


def leaderboard_html(views: list[TrialView], searched: list[str], family: str) -> str:
    """The leaderboard table; rows carry ``data-trial`` so tools (and tests) can read the order."""
    has_opt = family == "upit" or any(a == "optimal" for v in views for (_, _, a) in v.scores)
    assigns = ASSIGNMENTS if has_opt else ("default",)
    cols = [(c, a) for c in CONDITIONS for a in assigns]
    fixed_l = ["Rank", "Trial", "Family", "Mask", "Activation", *searched, "Params"]
    fixed_r = ["vs best (paired t-test)", "Valid SI-SNRi (dB)", "Epochs", "Status", "Wall time"]
    head1 = "".join(f'<th rowspan="2">{esc(h)}</th>' for h in fixed_l)
    head1 += "".join(f'<th colspan="{len(cols)}" class="grp">{m} (dB, test)</th>' for m in ("SI-SNRi", "SDRi"))
    head1 += "".join(f'<th rowspan="2">{esc(h)}</th>' for h in fixed_r)
    head2 = "".join(f'<th class="sub">{c} {_SHORT[a]}</th>' for _ in range(2) for c, a in cols)
    body, rank = [], 0
    for v in leaderboard_order(views):
        ranked = v.status == COMPLETE and v.rank_key() is not None
        rank += ranked
        p, r = v.params, v.row
        cells = [f'<td class="num">{rank if ranked else ""}</td>', f'<td class="num">{v.number}</td>',
                 f"<td>{esc(r.get('family'))}</td>", f"<td>{esc(r.get('mask'))}</td>",
                 f"<td>{esc(r.get('activation'))}</td>"]
        cells += [f"<td>{esc(fmt_value(p.get(k)))}</td>" for k in searched]
        cells.append(f'<td class="num">{fmt_params(r.get("param_count"))}</td>')
        for metric in ("si_snri", "sdri"):
            cells += [f'<td class="num score">{_score_text(v, metric, c, a)}</td>' for c, a in cols]
        cells.append(f"<td>{_vs_best_cell(v)}</td>")
        cells += [f'<td class="num">{fmt_db(r.get("valid_si_snri"))}</td>',
                  f'<td class="num">{esc(r.get("epochs_done"))}</td>',
                  f"<td>{_status_cell(v)}</td>", f'<td class="num">{fmt_duration(r.get("wall_s"))}</td>']
        tie = ' data-tie="best"' if v.is_best else (' data-tie="tied"' if v.tied else "")
        body.append(f'<tr data-trial="{v.number}" class="{esc(v.status)}"{tie}>{"".join(cells)}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(fixed_l) + 2 * len(cols) + len(fixed_r)}" class="dim">'
                    "no trials yet</td></tr>")
    return (f'<table class="board" id="leaderboard-table"><thead><tr>{head1}</tr><tr>{head2}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


# -- the uPIT table -------------------------------------------------------------------------
def best_per_cell(views: list[TrialView]) -> dict[tuple[str, str], TrialView]:
    """The best complete trial per (mask, activation): chosen on validation, not on the test set."""
    def key(v: TrialView) -> tuple[float, float]:
        valid, test = num(v.row.get("valid_si_snri")), v.rank_key()
        return (-math.inf if valid is None else valid, -math.inf if test is None else test)

    best: dict[tuple[str, str], TrialView] = {}
    for v in views:
        if v.status != COMPLETE or not v.scores:
            continue
        cell = (str(v.row.get("mask")), str(v.row.get("activation")))
        if cell not in best or key(v) > key(best[cell]):
            best[cell] = v
    return best


def _column_best(best: dict[tuple[str, str], TrialView], metric: str) -> dict[tuple[str, str], float]:
    out = {}
    for a, c in UPIT_COLUMNS:
        vals = [v.score(metric, c, a) for v in best.values() if v.score(metric, c, a) is not None]
        if vals:
            out[(a, c)] = max(vals)
    return out


def _block_header(label: str, cls: str) -> tuple[str, str, str]:
    return (f'<th colspan="4" class="{cls}">{esc(label)}</th>',
            "".join(f'<th colspan="2" class="{cls}">{a} assignment</th>' for a in ASSIGNMENTS),
            "".join(f'<th class="{cls} sub">{_SHORT[c]}</th>' for _, c in UPIT_COLUMNS))


ORACLE_ORDER = ("IPSM", "IRM", "IBM", "WFM")  # the lecture's table: IPSM above IRM


def oracle_for_study(oracle: pd.DataFrame | None, results: pd.DataFrame) -> pd.DataFrame | None:
    """The oracle rows scored on as many utterances as the study's trials (else the largest n),
    one per (condition, mask)."""
    if oracle is None or not len(oracle):
        return None
    counts = [int(n) for n in results["n_utterances"]] if len(results) else []
    picked = []
    for (_, _), grp in oracle.groupby(["condition", "mask"]):
        same = grp[grp["n_utterances"].isin(counts)]
        picked.append((same if len(same) else grp).sort_values("n_utterances").iloc[-1])
    return pd.DataFrame(picked)


def _oracle_rows(oracle: pd.DataFrame | None, published: pd.DataFrame, metric: str, with_pub: bool) -> list[str]:
    if oracle is None or not len(oracle):
        return []
    pub = published[(published["table"] == "upit") & (published["mask"] == "oracle")]
    masks = [m for m in ORACLE_ORDER if m in set(oracle["mask"])]
    rows = []
    for i, mask in enumerate(masks):
        cells = [f'<th rowspan="{len(masks)}" class="mask">oracle</th>'] if i == 0 else []
        cells += [f"<td>{esc(mask)}</td>", '<td class="num dim"></td>']
        for _, c in UPIT_COLUMNS:  # an oracle has no output order: both assignments alike
            hit = oracle[(oracle["mask"] == mask) & (oracle["condition"] == c)]
            val = hit.iloc[0][metric] if len(hit) else None
            ci = num(hit.iloc[0][f"{metric}_ci"]) if len(hit) else None
            text = fmt_db(val) + (f' <span class="ci">± {ci:.2f}</span>' if ci is not None else "")
            cells.append(f'<td class="num ours oracle">{text}</td>')
        if with_pub:
            match = pub[pub["system"] == mask]
            for a, c in UPIT_COLUMNS:
                val = match.iloc[0][_CSV_SDRI[(a, c)]] if len(match) else None
                cells.append(f'<td class="num pub">{fmt_db(val, 1)}</td>')
        rows.append(f'<tr class="oracle" data-oracle="{esc(mask)}">{"".join(cells)}</tr>')
    return rows


def upit_table_html(views: list[TrialView], published: pd.DataFrame, metric: str = "sdri",
                    oracle: pd.DataFrame | None = None) -> str:
    """Mask × activation rows in the lecture's layout: ours beside the published uPIT-BLSTM numbers,
    then the oracle masks (IPSM, IRM, IBM, WFM) as the upper reference, where scored.

    ``metric='si_snri'`` gives ours only: the paper reports no SI-SNRi.
    """
    best = best_per_cell(views)
    top = _column_best(best, metric)
    with_pub = metric == "sdri"
    pub = published[(published["table"] == "upit") & (published["system"] == "uPIT-BLSTM")]
    ours_h = _block_header(OURS_LABEL, "ours")
    pub_h = _block_header(PUBLISHED_UPIT_LABEL, "pub") if with_pub else ("", "", "")
    name = "SDRi" if metric == "sdri" else "SI-SNRi"
    head = (f'<tr><th rowspan="3">Mask</th><th rowspan="3">Activation</th><th rowspan="3">Trial</th>'
            f"{ours_h[0]}{pub_h[0]}</tr><tr>{ours_h[1]}{pub_h[1]}</tr><tr>{ours_h[2]}{pub_h[2]}</tr>")
    rows = []
    for mask in MASKS:
        for i, act in enumerate(ACTIVATIONS):
            v = best.get((mask, act))
            cells = [f'<th rowspan="{len(ACTIVATIONS)}" class="mask">{mask}</th>'] if i == 0 else []
            cells += [f"<td>{act}</td>", f'<td class="num dim">{"#" + str(v.number) if v else ""}</td>']
            for a, c in UPIT_COLUMNS:
                s = v.score(metric, c, a) if v else None
                bold = s is not None and top.get((a, c)) == s
                cells.append(f'<td class="num ours{" top" if bold else ""}">{fmt_db(s)}</td>')
            if with_pub:
                match = pub[(pub["mask"] == mask) & (pub["activation"] == act)]
                for a, c in UPIT_COLUMNS:
                    val = match.iloc[0][_CSV_SDRI[(a, c)]] if len(match) else None
                    cells.append(f'<td class="num pub">{fmt_db(val, 1)}</td>')
            rows.append(f'<tr data-mask="{mask}" data-activation="{act}">{"".join(cells)}</tr>')
    rows += _oracle_rows(oracle, published, metric, with_pub)
    return (f'<table class="upit" data-metric="{metric}"><caption>{name} (dB), mask × activation; '
            f"CC = closed condition (seen speakers), OC = open condition (unseen speakers)</caption>"
            f'<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')


def oracle_note(published: pd.DataFrame) -> str:
    """One line with the oracle masks' published SDRi, the ceiling the table is read against."""
    rows = published[(published["table"] == "upit") & (published["mask"] == "oracle")]
    parts = [f"{esc(r['system'])} {fmt_db(r['sdri_opt_cc_db'], 1)} (CC) / {fmt_db(r['sdri_opt_oc_db'], 1)} (OC)"
             for r in rows.to_dict("records")]
    return ("Oracle masks on WSJ0-2mix, SDRi dB: " + "; ".join(parts) + ".") if parts else ""
