"""``sweep report STUDY``: one self-contained HTML page per study.

The page must open on a laptop with no network (a report is mailed around or archived beside a
paper), so plotly.js is inlined once and every figure is a bare ``<div>`` plus a ``newPlot`` call;
there are no CDN links and no web fonts. Tables are plain HTML so they survive copy-paste into a
paper draft; plots are plotly for hover.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from sweep.report_tables import (ORACLE_ORDER, OURS_LABEL, PUBLISHED_UPIT_LABEL, TrialView, esc, fmt_params,
                                 fmt_value, leaderboard_html, load_published, num, oracle_for_study, oracle_note,
                                 searched_keys, trial_views, upit_table_html)
from sweep.store import COMPLETE, FAILED, PRUNED, RUNNING, Store, StudyRow, code_version

__all__ = ["write_report", "render_report"]

PUBLISHED_LABEL = "published (WSJ0-2mix)"
FAMILY_COLORS = ("#1f5fbf", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}  # the logo is the one link plotly adds

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif;
       margin: 24px auto; max-width: 1500px; padding: 0 16px; color: #1d2330; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { font-size: 1.25em; margin-top: 36px;
       border-bottom: 2px solid #dde3ec; padding-bottom: 4px; }
.meta { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 0.92em; }
.meta dt { color: #5a6478; } .meta dd { margin: 0; }
.counts span { display: inline-block; margin-right: 14px; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px; }
.dim { color: #7a8396; } .caption { color: #5a6478; font-size: 0.9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.86em; margin: 8px 0; }
th, td { border: 1px solid #dde3ec; padding: 3px 7px; vertical-align: top; }
th { background: #f1f4f9; font-weight: 600; } th.sub { font-weight: 500; font-size: 0.92em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.board tbody tr:nth-child(even) { background: #fafbfd; }
table.board tr.failed td, table.board tr.pruned td, table.board tr.running td { color: #6b7385; }
.st { font-weight: 600; } .st.complete { color: #1b7f3b; } .st.failed { color: #b3261e; }
.st.pruned { color: #8a6d00; } .st.running { color: #1f5fbf; }
.err { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.9em; color: #b3261e;
       max-width: 420px; white-space: pre-wrap; word-break: break-word; }
table.upit caption { caption-side: top; text-align: left; color: #5a6478; padding-bottom: 4px; }
th.ours { background: #e3efff; } th.pub { background: #eeeeee; } td.pub { color: #555; font-style: italic; }
td.top { font-weight: 700; } th.mask { background: #f7f8fb; }
.ci { color: #6b7385; font-size: 0.9em; } .tie { color: #8a6d00; font-weight: 600; }
.best { color: #1b7f3b; font-weight: 600; } tr.oracle td { background: #f4f7f0; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 0.85em; }
nav a { margin-right: 14px; }
"""


def write_report(store: Store, study: str, path: Path) -> Path:
    """Render ``study`` from ``store`` into the HTML file ``path`` (parents created); returns ``path``.

    Written to a temporary name and renamed, so a browser refreshing the report of a running study
    never reads half a file. Raises KeyError if the study does not exist.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(store, study)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_report(store: Store, study: str) -> str:
    """The whole page as a string."""
    row = store.study(study)
    if row is None:
        raise KeyError(study)
    trials, results, epochs = store.frames(study)
    views = trial_views(trials, results, store.utterance_frame(study))
    oracle = oracle_for_study(_study_oracle(store, row), results)
    published = load_published()
    searched = searched_keys(row.spec_yaml, views)
    n_complete = sum(v.status == COMPLETE for v in views)

    sections = [_header(row, views)]
    if n_complete == 0:
        sections.append('<p class="note">No trial of this study has completed yet, so there are no test '
                        "scores: the leaderboard lists the trials so far, the scatter shows only the "
                        "published points, and the tables fill in as trials finish.</p>")
    sections.append('<h2 id="leaderboard">Leaderboard</h2><p class="caption">Sorted by test SI-SNRi on the '
                    "closed condition (optimal assignment where the family has it, else default); trials "
                    "that did not complete are listed last. opt. = optimal (oracle) output assignment, "
                    "def. = default assignment (the output order the network chose). Scores are means over "
                    "the test utterances ± the half-width of their 95% confidence interval (Student t). "
                    "<i>vs best</i>: a two-sided paired t-test of the ranking score against the best trial "
                    "on the same utterances; <b>≈ tied</b> marks p ≥ 0.05 (no significant difference; no "
                    "multiple-comparison correction).</p>"
                    f'<div class="scroll">{leaderboard_html(views, searched, row.family)}</div>')
    sections.append('<h2 id="params">SI-SNRi against parameter count</h2><p class="caption">Ours: test '
                    "SI-SNRi, closed condition, default assignment, on this study's dataset. Published: "
                    "WSJ0-2mix results from the lecture's tables. Different data, so read the comparison "
                    "as an orientation, not a ranking. Dashed lines: oracle masks on this study's closed condition.</p>"
                    + _fig_html(_scatter(views, searched, published, oracle)))
    if row.family == "upit":
        sections.append(
            '<h2 id="upit">The uPIT table</h2><p class="caption">SDRi in the layout of Kolbaek et al. (2017): '
            f"<b>{esc(OURS_LABEL)}</b> beside the <b>{esc(PUBLISHED_UPIT_LABEL)}</b> uPIT-BLSTM numbers. "
            "Where several complete trials share a mask × activation, the one with the best validation "
            "SI-SNRi is shown (its trial number is in the Trial column); bold marks our best per column.</p>"
            f'<div class="scroll">{upit_table_html(views, published, "sdri", oracle)}</div>'
            f'<p class="caption">{oracle_note(published)} Our oracle rows: the masks computed from the clean '
            "sources with the uPIT family's STFT, on the same test utterances (mean ± 95% CI half-width).</p>"
            f'<h3>SI-SNRi, ours only</h3><div class="scroll">{upit_table_html(views, published, "si_snri", oracle)}'
            "</div>")
    sections.append('<h2 id="curves">Validation SI-SNRi per epoch</h2>'
                    + _fig_html(_curves(views, epochs)))
    sections.append(f'<h2 id="spec">Search space as launched</h2><pre>{esc(row.spec_yaml)}</pre>')
    nav = ('<nav><a href="#leaderboard">Leaderboard</a><a href="#params">SI-SNRi vs parameters</a>'
           + ('<a href="#upit">uPIT table</a>' if row.family == "upit" else "")
           + '<a href="#curves">Validation curves</a><a href="#spec">Search space</a></nav>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>sweep report: {esc(row.name)}</title><style>{_CSS}</style>"
            # One inline copy of plotly.js serves every figure on the page.
            f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script></head>'
            f"<body>{sections[0]}{nav}{''.join(sections[1:])}</body></html>\n")


def _header(row: StudyRow, views: list[TrialView]) -> str:
    counts = {s: sum(v.status == s for v in views) for s in (COMPLETE, FAILED, PRUNED, RUNNING)}
    try:
        dataset = ", ".join(f"{k}={v}" for k, v in json.loads(row.dataset).items() if v is not None)
    except (TypeError, ValueError, AttributeError):
        dataset = str(row.dataset or "")
    trial_versions = sorted({str(v.row.get("code_version")) for v in views if v.row.get("code_version")})
    versions = esc(row.code_version)
    if trial_versions and trial_versions != [row.code_version]:
        versions += f' <span class="dim">(trials ran: {esc(", ".join(trial_versions))})</span>'
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    created = row.created_at.strftime("%Y-%m-%d %H:%M UTC") if row.created_at else ""
    items = [("Family", esc(row.family)), ("Sampler", f"{esc(row.sampler)} <span class=\"dim\">scheduler "
              f"{esc(row.scheduler)}</span>"), ("Objective", esc(row.objective)), ("Dataset", esc(dataset)),
             ("Trials", '<span class="counts">'
              f"<span><b>{row.n_trials}</b> planned</span><span><b>{counts[COMPLETE]}</b> finished</span>"
              f"<span><b>{counts[FAILED]}</b> failed</span><span><b>{counts[PRUNED]}</b> pruned</span>"
              f"<span><b>{counts[RUNNING]}</b> running</span></span>"),
             ("Code version", versions), ("Study created", esc(created)),
             ("Generated", f"{generated} <span class=\"dim\">by sweep {esc(code_version())}</span>")]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f'<header><h1>Study <code>{esc(row.name)}</code></h1><dl class="meta">{meta}</dl></header>'


def _fig_html(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG,
                       default_height=f"{fig.layout.height or 450}px")


def _hover_params(v: TrialView, searched: list[str]) -> str:
    # plotly renders hover text as a small HTML subset, so DB text is escaped here too.
    keys = ["mask", "activation", *searched]
    parts = [f"{esc(k)}={esc(fmt_value(v.params.get(k)))}" for k in keys if k in v.params]
    return "<br>".join(parts)


def _study_oracle(store: Store, row: StudyRow) -> pd.DataFrame | None:
    """Oracle rows of the dataset the study ran on (its resolved root, recorded at launch)."""
    try:
        root = json.loads(row.dataset or "{}").get("data_root")
    except (TypeError, ValueError, AttributeError):
        root = None
    return store.oracle_frame(str(root)) if root else None


def _scatter(views: list[TrialView], searched: list[str], published: pd.DataFrame,
             oracle: pd.DataFrame | None = None) -> go.Figure:
    fig = go.Figure()
    oracle_ys: list[float] = []
    if oracle is not None:
        closed = oracle[oracle["condition"] == "closed"]
        for mask in [m for m in ORACLE_ORDER if m in set(closed["mask"])]:
            y = float(closed[closed["mask"] == mask].iloc[0]["si_snri"])
            oracle_ys.append(y)
            fig.add_hline(y=y, line=dict(dash="dash", width=1, color="#888"),
                          annotation_text=f"oracle {mask} {y:.1f} dB", annotation_position="top left",
                          annotation_font=dict(size=9, color="#666"))
    ours = [(v, num(v.row.get("param_count")), v.score("si_snri", "closed", "default")) for v in views
            if v.status == COMPLETE]
    ours = [(v, n, s) for v, n, s in ours if n and n > 0 and s is not None]
    # One trace per family, so a cross-family study reads as the lecture's size-vs-quality plot.
    families = sorted({str(v.row.get("family")) for v, _, _ in ours})
    for i, family in enumerate(families):
        mine = [(v, n, s) for v, n, s in ours if str(v.row.get("family")) == family]
        name = OURS_LABEL if len(families) == 1 else f"{family} (ours)"
        fig.add_trace(go.Scatter(
            x=[n / 1e6 for _, n, _ in mine], y=[s for _, _, s in mine], mode="markers", name=esc(name),
            marker=dict(size=10, color=FAMILY_COLORS[i % len(FAMILY_COLORS)], line=dict(width=1, color="white")),
            hovertext=[f"<b>trial {v.number}</b> ({esc(family)})<br>{fmt_params(n)} parameters<br>"
                       f"SI-SNRi {s:.2f} dB<br>" + _hover_params(v, searched) for v, n, s in mine],
            hoverinfo="text"))
    pub = published.dropna(subset=["params_m", "si_snri_db"])
    # The same system appears in several of the lecture's tables (DPRNN = DualPathRNN): one marker.
    points: dict[tuple[float, float], list[str]] = {}
    for r in pub.to_dict("records"):
        names = points.setdefault((float(r["params_m"]), float(r["si_snri_db"])), [])
        if r["system"] not in names:
            names.append(str(r["system"]))
    labels = [" / ".join(n) for n in points.values()]
    xs = [n / 1e6 for _, n, _ in ours] + [p for p, _ in points]
    ys = [s for _, _, s in ours] + [s for _, s in points] + oracle_ys
    xr = (math.log10(min(xs)) - 0.08, math.log10(max(xs)) + 0.3) if xs else None  # room for right labels
    yr = (min(ys) - 1.0, max(ys) + 1.5) if ys else None
    fig.add_trace(go.Scatter(
        x=[p for p, _ in points], y=[s for _, s in points], mode="markers+text", name=PUBLISHED_LABEL,
        text=[esc(t) for t in labels],
        textposition=_label_positions(list(points), labels, xr, yr) if xr and yr else "middle right",
        textfont=dict(size=9, color="#666"),
        marker=dict(size=10, symbol="diamond-open", color="#555", line=dict(width=2)),
        hovertext=[f"<b>{esc(' / '.join(n))}</b><br>{p:g}M parameters<br>SI-SNRi {s:.1f} dB (WSJ0-2mix)"
                   for (p, s), n in points.items()], hoverinfo="text"))
    fig.update_layout(height=520, xaxis=dict(type="log", title="parameters (millions, log scale)", range=xr),
                      yaxis_range=yr,
                      yaxis=dict(title="SI-SNRi (dB)"), margin=dict(l=60, r=20, t=30, b=50),
                      legend=dict(orientation="h", y=1.08, x=0))
    return fig


def _curves(views: list[TrialView], epochs: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    by_id = {int(v.row["id"]): v for v in views}
    data = epochs.dropna(subset=["valid_si_snri"]).sort_values("epoch") if len(epochs) else epochs
    for trial_id, group in (data.groupby("trial_id") if len(data) else ()):
        v = by_id.get(int(trial_id))
        if v is None:
            continue
        label = f"#{v.number} {esc(v.row.get('mask') or '')}/{esc(v.row.get('activation') or '')}".rstrip("/ ")
        fig.add_trace(go.Scatter(
            x=list(group["epoch"]), y=list(group["valid_si_snri"]), mode="lines+markers", name=label,
            line=dict(dash="solid" if v.status == COMPLETE else "dot"),
            # Per-point text, not a hovertemplate: DB text must not be read as %{...} placeholders.
            hovertext=[f"{label} ({esc(v.status)})<br>epoch {e}<br>valid SI-SNRi {y:.2f} dB"
                       for e, y in zip(group["epoch"], group["valid_si_snri"])], hoverinfo="text"))
    if not fig.data:
        fig.add_annotation(text="no epochs reported yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(height=450, xaxis=dict(title="epoch", dtick=1), yaxis=dict(title="validation SI-SNRi (dB)"),
                      margin=dict(l=60, r=20, t=30, b=50), legend=dict(title="trial (dotted: not complete)"))
    return fig


def _label_positions(points: list[tuple[float, float]], labels: list[str], xr: tuple[float, float],
                     yr: tuple[float, float], width_px: float = 1250.0, height_px: float = 420.0) -> list[str]:
    """A text position per published point so that labels do not cover each other or the markers.

    Plotly has no label collision avoidance and the lecture's systems cluster (DPRNN, DPTNet and
    sudo rm -rf all have 2.6M parameters), so boxes are estimated in pixels of the plot size
    we set and the first free side is taken greedily; a narrower window only squeezes them a little.
    """
    def px(x: float, y: float) -> tuple[float, float]:
        return ((math.log10(x) - xr[0]) / (xr[1] - xr[0]) * width_px, (yr[1] - y) / (yr[1] - yr[0]) * height_px)

    def overlaps(a: tuple, b: tuple) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    centres = [px(x, y) for x, y in points]
    taken = [(cx - 6, cy - 6, cx + 6, cy + 6) for cx, cy in centres]  # the markers themselves
    sides = ("middle right", "middle left", "top center", "bottom center", "top right", "bottom right",
             "top left", "bottom left")
    out = []
    for (cx, cy), label in zip(centres, labels):
        w, h = 5.6 * len(label), 11.0  # 9 px text, average glyph width

        def box(side: str) -> tuple[float, float, float, float]:
            v, hz = side.split()
            x0 = {"right": cx + 7, "left": cx - 7 - w, "center": cx - w / 2}[hz]
            y0 = {"middle": cy - h / 2, "top": cy - 7 - h, "bottom": cy + 7}[v]
            return (x0, y0, x0 + w, y0 + h)
        choice = next((sd for sd in sides if not any(overlaps(box(sd), t) for t in taken)), "middle right")
        taken.append(box(choice))
        out.append(choice)
    return out
