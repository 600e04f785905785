"""The plotly figures of ``sweep report``: test score against parameter count, and the
objective per epoch.

Each figure function takes the loaded :class:`~sweep.report.study.StudyReport` and returns a
``go.Figure``; :func:`fig_html` turns it into a bare ``<div>`` (plotly.js is inlined once by the
page). Plotly renders hover text and legend names as a small HTML subset, so every DB string
that reaches a figure goes through :func:`~sweep.report.tables.esc` as well.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from sweep.objective import EPOCH_METRICS
from sweep.report.pareto import front_views
from sweep.report.tables import ORACLE_ORDER, OURS_LABEL, esc, fmt_params, fmt_value, num
from sweep.report.views import TrialView
from sweep.store import COMPLETE

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["FAMILY_COLORS", "FRONT_LABEL", "PUBLISHED_LABEL", "curves", "fig_html", "params_scatter"]

PUBLISHED_LABEL = "published (WSJ0-2mix)"
FRONT_LABEL = "Pareto front (on validation)"
FAMILY_COLORS = ("#1f5fbf", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}  # the logo is the one link plotly adds


def fig_html(fig: go.Figure) -> str:
    """The figure as a ``<div>`` plus its ``newPlot`` call, without plotly.js."""
    return fig.to_html(full_html=False, include_plotlyjs=False, config=_PLOT_CONFIG,
                       default_height=f"{fig.layout.height or 450}px")


def _knob_keys(r: StudyReport, v: TrialView) -> list[str]:
    knobs = r.mask_knobs.get(v.family)
    return [knobs.mask, knobs.activation] if knobs else []


def _hover_params(r: StudyReport, v: TrialView) -> str:
    keys = list(dict.fromkeys([*_knob_keys(r, v), *r.searched]))
    return "<br>".join(f"{esc(k)}={esc(fmt_value(v.params.get(k)))}" for k in keys if k in v.params)


# -- test SI-SNRi against parameter count -----------------------------------------------------
def _oracle_lines(fig: go.Figure, oracle: pd.DataFrame | None) -> list[float]:
    """Dashed lines at the oracle masks' closed-condition SI-SNRi; returns their heights."""
    if oracle is None:
        return []
    closed = oracle[oracle["condition"] == "closed"]
    ys = []
    for mask in [m for m in ORACLE_ORDER if m in set(closed["mask"])]:
        y = float(closed[closed["mask"] == mask].iloc[0]["si_snri"])
        ys.append(y)
        fig.add_hline(y=y, line=dict(dash="dash", width=1, color="#888"),
                      annotation_text=f"oracle {esc(mask)} {y:.1f} dB", annotation_position="top left",
                      annotation_font=dict(size=9, color="#666"))
    return ys


def _our_points(r: StudyReport) -> list[tuple[TrialView, float, float]]:
    """(trial, parameter count, test SI-SNRi beside published numbers) of complete trials."""
    points = [(v, num(v.row.get("param_count")), v.published_score("si_snri")) for v in r.views
              if v.status == COMPLETE]
    return [(v, n, s) for v, n, s in points if n and n > 0 and s is not None]


def _add_our_traces(fig: go.Figure, r: StudyReport, ours: list[tuple[TrialView, float, float]]) -> None:
    # One trace per family, so a cross-family study reads as the lecture's size-vs-quality plot.
    families = sorted({v.family for v, _, _ in ours})
    for i, family in enumerate(families):
        mine = [(v, n, s) for v, n, s in ours if v.family == family]
        name = OURS_LABEL if len(families) == 1 else f"{family} (ours)"
        fig.add_trace(go.Scatter(
            x=[n / 1e6 for _, n, _ in mine], y=[s for _, _, s in mine], mode="markers", name=esc(name),
            marker=dict(size=10, color=FAMILY_COLORS[i % len(FAMILY_COLORS)], line=dict(width=1, color="white")),
            hovertext=[f"<b>trial {v.number}</b> ({esc(family)})<br>{fmt_params(n)} parameters<br>"
                       f"SI-SNRi {s:.2f} dB<br>" + _hover_params(r, v) for v, n, s in mine],
            hoverinfo="text"))


def _published_points(published: pd.DataFrame) -> dict[tuple[float, float], list[str]]:
    """(params in millions, SI-SNRi) -> system names. The same system appears in several of the
    lecture's tables (DPRNN = DualPathRNN): one marker for it."""
    points: dict[tuple[float, float], list[str]] = {}
    for row in published.dropna(subset=["params_m", "si_snri_db"]).to_dict("records"):
        names = points.setdefault((float(row["params_m"]), float(row["si_snri_db"])), [])
        if row["system"] not in names:
            names.append(str(row["system"]))
    return points


def _add_front(fig: go.Figure, ours: list[tuple[TrialView, float, float]], front: list[TrialView]) -> None:
    """Rings round the Pareto front's trials (chosen on validation), joined smallest first."""
    at = {v.number: (n, s) for v, n, s in ours}
    points = [(v, *at[v.number]) for v in front if v.number in at]
    if not points:
        return
    fig.add_trace(go.Scatter(
        x=[n / 1e6 for _, n, _ in points], y=[s for _, _, s in points], mode="lines+markers", name=FRONT_LABEL,
        line=dict(dash="dot", width=1, color="#1b7f3b"),
        marker=dict(size=17, symbol="circle-open", color="#1b7f3b", line=dict(width=2)),
        hovertext=[f"<b>trial {v.number}</b>: on the Pareto front<br>{fmt_params(n)} parameters<br>"
                   f"test SI-SNRi {s:.2f} dB" for v, n, s in points], hoverinfo="text"))


def params_scatter(r: StudyReport) -> go.Figure:
    """Test SI-SNRi against parameter count: ours per family, the study's Pareto front, the
    published systems, and the oracle masks as dashed lines where the study has spectral-mask
    families."""
    fig = go.Figure()
    oracle_ys = _oracle_lines(fig, r.oracle if r.mask_knobs else None)
    ours = _our_points(r)
    _add_our_traces(fig, r, ours)
    _add_front(fig, ours, front_views(r))
    points = _published_points(r.published)
    labels = [" / ".join(n) for n in points.values()]
    xs = [n / 1e6 for _, n, _ in ours] + [p for p, _ in points]
    ys = [s for _, _, s in ours] + [s for _, s in points] + oracle_ys
    xr = (math.log10(min(xs)) - 0.08, math.log10(max(xs)) + 0.3) if xs else None  # room for right labels
    yr = (min(ys) - 1.0, max(ys) + 1.5) if ys else None
    fig.add_trace(go.Scatter(
        x=[p for p, _ in points], y=[s for _, s in points], mode="markers+text", name=PUBLISHED_LABEL,
        text=[esc(t) for t in labels],
        textposition=label_positions(list(points), labels, xr, yr) if xr and yr else "middle right",
        textfont=dict(size=9, color="#666"),
        marker=dict(size=10, symbol="diamond-open", color="#555", line=dict(width=2)),
        hovertext=[f"<b>{esc(' / '.join(n))}</b><br>{p:g}M parameters<br>SI-SNRi {s:.1f} dB (WSJ0-2mix)"
                   for (p, s), n in points.items()], hoverinfo="text"))
    fig.update_layout(height=520, xaxis=dict(type="log", title="parameters (millions, log scale)", range=xr),
                      yaxis=dict(title="SI-SNRi (dB)", range=yr), margin=dict(l=60, r=20, t=30, b=50),
                      legend=dict(orientation="h", y=1.08, x=0))
    return fig


def label_positions(points: list[tuple[float, float]], labels: list[str], xr: tuple[float, float],
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


# -- the objective per epoch ------------------------------------------------------------------
def _curve_label(r: StudyReport, v: TrialView) -> str:
    """``#3 PSM/relu`` for a mask family, ``#3`` otherwise; the family too in a cross-family study."""
    knobs = "/".join(esc(fmt_value(v.params.get(k))) for k in _knob_keys(r, v) if k in v.params)
    family = esc(v.family) if len(r.families) > 1 else ""
    return " ".join(part for part in (f"#{v.number}", family, knobs) if part)


def curves(r: StudyReport) -> go.Figure:
    """The study objective's metric per epoch, one line per trial (dotted while not complete)."""
    metric, label = r.objective.metric, r.objective.label
    unit = EPOCH_METRICS[metric][1]
    axis = f"{label} ({unit})" if unit else label
    fig = go.Figure()
    by_id = {int(v.row["id"]): v for v in r.views}
    epochs = r.epochs
    data = epochs.dropna(subset=[metric]).sort_values("epoch") if len(epochs) and metric in epochs else epochs[:0]
    for trial_id, group in (data.groupby("trial_id") if len(data) else ()):
        v = by_id.get(int(trial_id))
        if v is None:
            continue
        name = _curve_label(r, v)
        fig.add_trace(go.Scatter(
            x=list(group["epoch"]), y=list(group[metric]), mode="lines+markers", name=name,
            line=dict(dash="solid" if v.status == COMPLETE else "dot"),
            # Per-point text, not a hovertemplate: DB text must not be read as %{...} placeholders.
            hovertext=[f"{name} ({esc(v.status)})<br>epoch {e}<br>{esc(label)} {y:.4g} {esc(unit)}"
                       for e, y in zip(group["epoch"], group[metric])], hoverinfo="text"))
    if not fig.data:
        fig.add_annotation(text="no epochs reported yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_layout(height=450, xaxis=dict(title="epoch", dtick=1), yaxis=dict(title=axis),
                      margin=dict(l=60, r=20, t=30, b=50), legend=dict(title="trial (dotted: not complete)"))
    return fig
