"""``sweep report STUDY``: one self-contained HTML page per study.

The page must open on a laptop with no network (a report is mailed around or archived beside a
paper), so plotly.js is inlined once and every figure is a bare ``<div>`` plus a ``newPlot`` call;
there are no CDN links and no web fonts. Tables are plain HTML so they survive copy-paste into a
paper draft; plots are plotly for hover.

The page is :data:`SECTIONS`, in order: each :class:`Section` gives its anchor, its navigation
link, its heading, its body and when it is shown, so a new plot or table is one entry there.
The data every section draws from is loaded once by :func:`sweep.report.study.load_study`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import plotly.offline

from sweep.report import diagnostics
from sweep.report.contrasts import contrasts_html, has_contrasts
from sweep.report.family_best import family_table_html
from sweep.report.kept import checkpoints_html, recipe_html
from sweep.report.listen import listen_html
from sweep.report.figures import FRONT_LABEL, curves, fig_html, params_scatter
from sweep.report.optuna_study import as_optuna_study
from sweep.report.pareto import front_table_html
from sweep.report.ranking import RULE
from sweep.report.study import StudyReport, dataset_items, load_study
from sweep.report.tables import (OURS_LABEL, esc, fmt_value, leaderboard_html, mask_table_html, oracle_note,
                                 published_grid, published_label)
from sweep.report.views import BESIDE_PUBLISHED, TIE_METRIC
from sweep.scoring.registry import get as get_test_metric
from sweep.scoring.registry import summary_metrics
from sweep.store import COMPLETE, FAILED, INTERRUPTED, PRUNED, RUNNING, Store, code_version

__all__ = ["SECTIONS", "Section", "html_document", "nav_and_sections", "render_report", "write_atomic",
           "write_report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif;
       margin: 0 auto 24px; max-width: 1500px; padding: 0 16px; color: #1d2330; line-height: 1.4; }
header { padding-top: 16px; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { font-size: 1.25em; margin-top: 36px;
       border-bottom: 2px solid #dde3ec; padding-bottom: 4px; }
.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 0.92em; }
.meta dt { color: #5a6478; } .meta dd { margin: 0; }
.counts span { display: inline-block; margin-right: 14px; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px; }
.dim { color: #7a8396; } .caption { color: #5a6478; font-size: 0.9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86em; margin: 8px 0; }
table.board { font-size: 0.8em; } table.board th, table.board td { padding: 3px 4px; }
td.vs .dim, .board .ci { display: block; } td.vs { max-width: 120px; } .board .err { max-width: 180px; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 8px 24px; }
.grid2 > div { min-width: 0; } h3 { font-size: 1.05em; margin: 18px 0 4px; }
details summary { cursor: pointer; color: #1f5fbf; } section { scroll-margin-top: 48px; }
th, td { border: 1px solid #dde3ec; padding: 3px 7px; vertical-align: top; }
th { background: #f1f4f9; font-weight: 600; } th.sub { font-weight: 500; font-size: 0.92em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.board tbody tr:nth-child(even) { background: #fafbfd; }
table.board tr.failed td, table.board tr.pruned td, table.board tr.running td { color: #6b7385; }
.st { font-weight: 600; } .st.complete { color: #1b7f3b; } .st.failed { color: #b3261e; }
.st.pruned { color: #8a6d00; } .st.running { color: #1f5fbf; }
.err { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; color: #b3261e;
       max-width: 320px; white-space: pre-wrap; word-break: break-word; }
table.unfinished .err { max-width: 640px; display: block; } pre.err { margin: 4px 0; }
tr.ours td { background: #e3efff; } tr.pub td { color: #555; font-style: italic; }
table.masks caption { caption-side: top; text-align: left; color: #5a6478; padding-bottom: 4px; }
th.ours { background: #e3efff; } th.pub { background: #eeeeee; } td.pub { color: #555; font-style: italic; }
td.top { font-weight: 700; } th.mask { background: #f7f8fb; }
.ci { color: #6b7385; font-size: 0.9em; } .tie { color: #8a6d00; font-weight: 600; }
.best { color: #1b7f3b; font-weight: 600; } tr.oracle td { background: #f4f7f0; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 0.85em; }
.tables { display: flex; flex-wrap: wrap; gap: 0 28px; align-items: flex-start; }
nav { position: sticky; top: 0; z-index: 5000; background: #fff; padding: 8px 0;
      border-bottom: 1px solid #dde3ec; } nav a { margin-right: 14px; }
.clips { display: flex; flex-wrap: wrap; gap: 0 24px; align-items: flex-start; }
table.clip caption { caption-side: top; text-align: left; color: #5a6478; padding-bottom: 4px; }
table.clip audio { width: 220px; height: 32px; display: block; }
table.kept td.loc { max-width: 560px; word-break: break-all; } dl.recipe { margin: 8px 0; }
"""


@dataclass(frozen=True)
class Section:
    """One part of the page. ``id`` is both the element id and the navigation link's target."""

    id: str
    nav: str  # the navigation link's text
    title: str  # the <h2>
    body: Callable[[StudyReport], str]  # HTML under the heading
    shown: Callable[[StudyReport], bool] = lambda r: True


def write_report(store: Store, study: str, path: Path) -> Path:
    """Render ``study`` from ``store`` into the HTML file ``path`` (parents created); returns ``path``.
    Raises KeyError if the study does not exist."""
    return write_atomic(Path(path), render_report(store, study))


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (parents created) through a temporary name and a rename, so a
    browser refreshing the report of a running study never reads half a file; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # e.g. path is a folder, or the disk is full: leave no temporary file behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def html_document(title: str, body: str) -> str:
    """A whole self-contained page: the report's CSS and one inline copy of plotly.js, which
    serves every figure in ``body``."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{_CSS}</style>"
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head>'
            f"<body>{body}</body></html>\n")


def nav_and_sections(sections: list[tuple[str, str, str, str]]) -> tuple[str, str]:
    """The navigation bar and the sections, from (id, nav text, heading, body HTML) in order."""
    nav = "<nav>" + "".join(f'<a href="#{esc(i)}">{esc(n)}</a>' for i, n, _, _ in sections) + "</nav>"
    return nav, "".join(f'<section id="{esc(i)}"><h2>{esc(t)}</h2>{b}</section>' for i, _, t, b in sections)


def render_report(store: Store, study: str) -> str:
    """The whole page as a string. Raises KeyError if the study does not exist."""
    r = load_study(store, study)
    nav, body = nav_and_sections([(s.id, s.nav, s.title, s.body(r)) for s in SECTIONS if s.shown(r)])
    note = "" if r.n_complete else (
        '<p class="note">No trial of this study has completed yet, so there are no test scores: the '
        "leaderboard lists the trials so far, the scatter shows only the published points, and the "
        "tables fill in as trials finish.</p>")
    return html_document(f"sweep report: {r.row.name}", _header(r) + nav + note + body)


def _header(r: StudyReport) -> str:
    row, views, obj = r.row, r.views, r.objective
    counts = {s: sum(v.status == s for v in views) for s in (COMPLETE, FAILED, PRUNED, RUNNING, INTERRUPTED)}
    dataset = ", ".join(f"{k}={fmt_value(v)}" for k, v in dataset_items(r) if v is not None) or row.dataset
    trial_versions = sorted({str(v.row.get("code_version")) for v in views if v.row.get("code_version")})
    versions = esc(row.code_version)
    if trial_versions and trial_versions != [row.code_version]:
        versions += f' <span class="dim">(trials ran: {esc(", ".join(trial_versions))})</span>'
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    created = row.created_at.strftime("%Y-%m-%d %H:%M UTC") if row.created_at else ""
    best = (f"#{r.best.number} <span class=\"dim\">{esc(obj.label)} {esc(obj.fmt(r.best.objective_value))} "
            "(validation, tested epoch)</span>") if r.best else '<span class="dim">none yet</span>'
    items = [("Family", esc(row.family)), ("Sampler", f"{esc(row.sampler)} <span class=\"dim\">scheduler "
              f"{esc(row.scheduler)}</span>"), ("Objective", esc(f"{obj.mode} {obj.label}")),
             ("Best trial", best), ("Dataset", esc(dataset)),
             ("Trials", '<span class="counts">'
              f"<span><b>{row.n_trials}</b> planned</span><span><b>{counts[COMPLETE]}</b> finished</span>"
              f"<span><b>{counts[FAILED]}</b> failed</span><span><b>{counts[PRUNED]}</b> pruned</span>"
              f"<span><b>{counts[RUNNING]}</b> running</span>"
              + (f"<span><b>{counts[INTERRUPTED]}</b> interrupted</span>" if counts[INTERRUPTED] else "")
              + "</span>"),
             ("Code version", versions), ("Study created", esc(created)),
             ("Generated", f"{generated} <span class=\"dim\">by sweep {esc(code_version())}</span>")]
    meta = "".join(f'<dt>{k}</dt><dd data-field="{esc(k)}">{v}</dd>' for k, v in items)
    return f'<header><h1>Study <code>{esc(row.name)}</code></h1><dl class="meta">{meta}</dl></header>'


# -- section bodies ---------------------------------------------------------------------------
def _leaderboard(r: StudyReport) -> str:
    obj, tie = r.objective, get_test_metric(TIE_METRIC)
    assignments = ("opt. = optimal (oracle) output assignment, def. = default assignment (the output "
                   "order the network chose). ") if r.has_optimal else ""
    return (f'<p class="caption" id="ranking-rule">Ranked by the study\'s objective, <b>{esc(obj.mode)} '
            f"{esc(obj.label)}</b>: {esc(RULE)}. Test columns are shown, never used to choose: the best "
            "trial, the ranks, the mask tables' picks and the Pareto front all follow this rule. "
            "Trials that did not complete are listed last. Test scores: CC = closed condition "
            f"(seen speakers), OC = open condition (unseen speakers); {assignments}Scores are means over the "
            "test utterances ± the half-width of their 95% confidence interval (Student t). <i>vs best</i>: "
            f"a two-sided paired t-test of test {esc(tie.label)} (closed condition, optimal assignment where "
            "the trial has it) against the best trial on the same utterances; <b>≈ tied</b> marks p ≥ 0.05 "
            "(no significant difference; no multiple-comparison correction).</p>"
            f'<div class="scroll">{leaderboard_html(r)}</div>')


def _params(r: StudyReport) -> str:
    cond, assign = BESIDE_PUBLISHED
    oracle = (" Dashed lines: oracle masks on this study's closed condition."
              if r.mask_knobs and r.oracle is not None else "")
    return (f'<p class="caption">Ours: test SI-SNRi, {esc(cond)} condition, {esc(assign)} assignment, on this '
            "study's dataset. Published: WSJ0-2mix results from the lecture's tables. Different data, so read the "
            f"comparison as an orientation, not a ranking.{oracle} <b>{esc(FRONT_LABEL)}</b>: the trials that no "
            f"other complete trial beats on both parameter count (fewer) and {esc(r.objective.label)} (the "
            "objective, on validation); they are drawn at their test score, so a front trial may sit below "
            "one that is not on it.</p>" + fig_html(params_scatter(r))
            + '<div class="grid2"><div><h3>The Pareto front</h3>' + front_table_html(r) + "</div>"
            + "<div><h3>Best per family, beside the lecture's tables</h3>" + family_table_html(r) + "</div></div>")


def _masks(r: StudyReport) -> str:
    parts = []
    for family in sorted(r.mask_knobs):
        system, _ = published_grid(r.published, family)
        beside = f" beside the <b>{esc(published_label(system))}</b> numbers" if system else ""
        parts.append((f"<h3>{esc(family)}</h3>" if len(r.mask_knobs) > 1 else "")
                     + f'<p class="caption">The values of {esc(family)}\'s mask knobs in the layout of the '
                     f"lecture's table: <b>{esc(OURS_LABEL)}</b>{beside}, where the published table has the "
                     "metric. Where several complete trials share a mask × activation, the one with the best "
                     f"{esc(r.objective.label)} (the objective) is shown, its number in the Trial column; "
                     "bold marks our best per column. CC = closed condition (seen speakers), OC = open "
                     "condition (unseen speakers).</p>")
        parts.append('<div class="tables">' + "".join(f'<div class="scroll">{mask_table_html(r, family, m)}</div>'
                                                      for m in summary_metrics()) + "</div>")
        if r.oracle is not None:
            stft = ", ".join(sorted({str(s) for s in r.oracle.get("stft", [])}))
            parts.append(f'<p class="caption">{oracle_note(r.published, family)} Our oracle rows: the masks '
                         f"computed from the clean sources (STFT {esc(stft)}), on the same test utterances "
                         "(mean ± 95% CI half-width).</p>")
    return "".join(parts)


def _curves(r: StudyReport) -> str:
    return (f'<p class="caption">{esc(r.objective.label)} (the objective) of every trial after each epoch.</p>'
            + fig_html(curves(r)))


def _winner(r: StudyReport) -> str:
    best = f" (trial #{r.best.number})" if r.best else ""
    return (f'<p class="caption">What the best trial{best} ran: its model and its training values, rebuilt from the '
            "spec as launched and the values it sampled.</p>" + recipe_html(r)
            + "<h3>Kept checkpoints</h3>" + checkpoints_html(r))


def _search(r: StudyReport) -> str:
    study = as_optuna_study(r)
    label = esc(r.objective.label)
    importance = diagnostics.importance_figure(study, r)
    importance_html = (f'<p class="note" id="importance-note">{importance}</p>' if isinstance(importance, str)
                       else fig_html(importance))
    return (f'<p class="caption">How the search went, on the objective ({label}, on validation at the tested epoch). '
            "Drawn by <code>optuna.visualization</code> from this study's trials, except the wall-clock plot.</p>"
            '<div class="grid2">'
            f'<div><h3>Best so far, by trial</h3>{fig_html(diagnostics.history_figure(study, r))}</div>'
            f'<div><h3>Best so far, by wall-clock time</h3>{fig_html(diagnostics.wallclock_figure(r))}</div></div>'
            f"<h3>Searched knobs, coloured by {label}</h3>"
            '<p class="caption">One line per complete trial across the searched knobs (parallel coordinates).</p>'
            f"{fig_html(diagnostics.parallel_figure(study, r))}"
            '<div class="grid2">'
            f'<div><h3>Hyperparameter importance</h3><p class="caption">Optuna\'s '
            f"{diagnostics.IMPORTANCE_EVALUATOR} evaluator: how much each knob decides whether a trial reaches the "
            f"top of {label}, over the complete trials.</p>{importance_html}</div>"
            '<div><h3>Timeline</h3><p class="caption">Every trial from start to end, coloured by how it ended '
            "(the reasons are in the next section).</p>"
            f"{fig_html(diagnostics.timeline_figure(study))}</div></div>")


def _unfinished(r: StudyReport) -> str:
    return ('<p class="caption">Trials that did not complete, and why: the scheduler stopped them early '
            "(pruned), they failed (the error's first line; <i>more</i> shows the rest), or they are still "
            "running.</p>" + diagnostics.unfinished_table_html(r))


def _spec(r: StudyReport) -> str:
    stale = (f'<p class="note">This spec no longer validates ({esc(r.spec_error)}): the parameter columns '
             "come from the values the trials ran with.</p>") if r.spec_error else ""
    lines = len((r.row.spec_yaml or "").splitlines())
    return f"{stale}<details><summary>the spec, {lines} lines of YAML</summary><pre>{esc(r.row.spec_yaml)}</pre></details>"


SECTIONS: tuple[Section, ...] = (
    Section("leaderboard", "Leaderboard", "Leaderboard", _leaderboard),
    Section("params", "Size vs quality", "SI-SNRi against parameter count", _params),
    Section("masks", "Mask × activation", "Mask × activation", _masks, shown=lambda r: bool(r.mask_knobs)),
    Section("contrasts", "Paired contrasts", "Paired contrasts", contrasts_html, shown=has_contrasts),
    Section("winner", "Best trial", "The best trial's recipe and the kept checkpoints", _winner),
    Section("listen", "Listen", "Listen: separated test utterances", listen_html),
    Section("search", "Search", "Search diagnostics", _search),
    Section("unfinished", "Unfinished trials", "Pruned, failed and running trials", _unfinished),
    Section("curves", "Learning curves", "The objective per epoch", _curves),
    Section("spec", "Search space", "Search space as launched", _spec),
)
"""The page, top to bottom; the navigation bar is generated from the same list."""
