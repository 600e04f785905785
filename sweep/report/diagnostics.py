"""Search diagnostics: how the search went, not which trial won.

Best-so-far against trials, parallel coordinates of the searched knobs, hyperparameter
importance and the trials' timeline are ``optuna.visualization`` figures, drawn from the
report's in-memory Optuna study (:func:`sweep.report.optuna_study.as_optuna_study`); the best-so-far
against wall-clock time has no Optuna figure and is drawn here. Every value plotted is the
objective's value on validation at the tested epoch (:mod:`sweep.report.ranking`).

Hyperparameter importance needs at least :data:`MIN_IMPORTANCE_TRIALS` complete trials and a
searched knob that took two values among them; otherwise, or if Optuna's evaluator gives up on
the data, the page gets one line saying why instead of a figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
import optuna.visualization as ov
import plotly.graph_objects as go

from sweep.report.optuna_study import quiet
from sweep.report.ranking import ranked
from sweep.report.tables import configuration, error_reason, esc, fmt_duration, fmt_epoch_metric
from sweep.report.views import TrialView, num
from sweep.store import COMPLETE, FAILED, PRUNED

if TYPE_CHECKING:
    from sweep.report.study import StudyReport

__all__ = ["IMPORTANCE_EVALUATOR", "MIN_IMPORTANCE_TRIALS", "history_figure", "importance_figure",
           "parallel_figure", "timeline_figure", "unfinished_table_html", "wallclock_figure"]

MIN_IMPORTANCE_TRIALS = 2
IMPORTANCE_EVALUATOR = "PED-ANOVA"  # optuna.importance.PedAnovaImportanceEvaluator, Optuna's default


def _tidy(fig: go.Figure, height: int = 380) -> go.Figure:
    """Optuna's figures without their titles (the page has captions), sized for a half-width column."""
    fig.update_layout(title=None, height=height, margin=dict(l=60, r=20, t=60, b=50),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    return fig


def _note(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=esc(text), showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def history_figure(study: optuna.Study, r: StudyReport) -> go.Figure:
    """Each complete trial's objective and the best so far, against the trial number (Optuna's)."""
    with quiet():
        fig = ov.plot_optimization_history(study, target_name=esc(r.objective.label))
    fig.update_xaxes(title="trial number")
    return _tidy(fig)


def _clock(v: TrialView, key: str):
    stamp = v.row.get(key)
    return None if stamp is None or stamp != stamp else stamp  # None or NaT


def wallclock_figure(r: StudyReport) -> go.Figure:
    """The best objective so far against the time since the study's first trial started (seconds
    up to two minutes, minutes up to three hours, then hours), with each complete trial where it ended."""
    starts = [s for v in r.views for s in (_clock(v, "started_at") or _clock(v, "queued_at"),) if s is not None]
    done = sorted(((_clock(v, "finished_at"), v) for v in ranked(r.views)
                   if _clock(v, "finished_at") is not None and v.objective_value is not None), key=lambda t: t[0])
    fig = go.Figure()
    if not starts or not done:
        return _tidy(_note(fig, "no trial has completed yet"))
    t0 = min(starts)
    span_s = max((t - t0).total_seconds() for t, _ in done)
    unit, scale = next((u, f) for u, f, most in (("seconds", 1.0, 120), ("minutes", 60.0, 3 * 3600),
                                                 ("hours", 3600.0, float("inf"))) if span_s <= most)
    xs = [(t - t0).total_seconds() / scale for t, _ in done]
    best, bests = None, []
    for _, v in done:
        best = v.objective_value if r.objective.better(v.objective_value, best) else best
        bests.append(best)
    label = esc(r.objective.label)
    fig.add_trace(go.Scatter(
        x=xs, y=[v.objective_value for _, v in done], mode="markers", name=f"{label} (complete trials)",
        marker=dict(size=8, color="#1f5fbf"), hoverinfo="text",
        hovertext=[f"trial {v.number}<br>finished after {fmt_duration((t - t0).total_seconds())}<br>"
                   f"{label} {esc(r.objective.fmt(v.objective_value))}" for t, v in done]))
    fig.add_trace(go.Scatter(x=xs, y=bests, mode="lines", line=dict(shape="hv", color="#d62728"),
                             name="best so far", hoverinfo="skip"))
    fig.update_layout(xaxis=dict(title=f"wall-clock time since the first trial started ({unit})", rangemode="tozero"),
                      yaxis=dict(title=label))
    return _tidy(fig)


def parallel_figure(study: optuna.Study, r: StudyReport) -> go.Figure:
    """The searched knobs of every complete trial as parallel axes, coloured by the objective."""
    params = sorted({k for t in study.trials for k in t.params})
    if not params or not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        return _tidy(_note(go.Figure(), "no complete trial with a searched knob yet"), 420)
    with quiet():
        fig = ov.plot_parallel_coordinate(study, params=params, target_name=esc(r.objective.label))
    return _tidy(fig, 420)


def _importance_blocker(study: optuna.Study) -> str | None:
    """Why importance cannot be computed on ``study``, or None when it can."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < MIN_IMPORTANCE_TRIALS:
        return (f"Hyperparameter importance needs at least {MIN_IMPORTANCE_TRIALS} complete trials; "
                f"this study has {len(complete)}.")
    varied = [k for k in {k for t in complete for k in t.params}
              if len({repr(t.params.get(k)) for t in complete}) > 1]
    if not varied:
        return "Hyperparameter importance needs a searched knob that took two values among the complete trials."
    return None


def importance_figure(study: optuna.Study, r: StudyReport) -> go.Figure | str:
    """Optuna's importance of each searched knob for the objective, or one line saying why not."""
    blocker = _importance_blocker(study)
    if blocker is not None:
        return blocker
    try:
        with quiet():
            fig = ov.plot_param_importances(study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                                            target_name=esc(r.objective.label))
    except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as exc:  # the evaluator gave up on the data
        return f"Hyperparameter importance could not be computed on these trials: {esc(exc)}"
    return _tidy(fig)


def timeline_figure(study: optuna.Study) -> go.Figure:
    """Each trial from start to end, coloured by how it ended (Optuna's timeline)."""
    with quiet():
        return _tidy(ov.plot_timeline(study))


def _reason(r: StudyReport, v: TrialView) -> str:
    """Why ``v`` did not complete: the scheduler, or the stored error (a failure; an interruption),
    its first line shown and the rest collapsed."""
    epochs = int(num(v.row.get("epochs_done")) or 0)
    text = v.row.get("error") if isinstance(v.row.get("error"), str) else ""
    if v.status == PRUNED:
        return f"stopped early by the scheduler ({esc(r.row.scheduler)}) after epoch {epochs}"
    if v.status != FAILED and not text.strip():
        return f"{esc(v.status)}, {epochs} epoch(s) reported"
    more = (f'<details><summary>more</summary><pre class="err">{esc(text.strip())}</pre></details>'
            if len([ln for ln in text.splitlines() if ln.strip()]) > 1 else "")
    return f'<span class="err">{esc(error_reason(text))}</span>{more}'


def unfinished_table_html(r: StudyReport) -> str:
    """Every trial that did not complete (pruned, failed, running), with why, in trial order."""
    rows = []
    metric = r.objective.metric
    for v in sorted((v for v in r.views if v.status != COMPLETE), key=lambda v: v.number):
        value = v.objective_value if v.objective_value is not None else v.last.get(metric)
        config = configuration(r, v)
        rows.append(f'<tr data-trial="{v.number}" class="{esc(v.status)}"><td class="num">#{v.number}</td>'
                    f'<td><span class="st {esc(v.status)}">{esc(v.status)}</span></td>'
                    f'<td class="num">{esc(v.row.get("epochs_done"))}</td>'
                    f'<td class="num">{fmt_epoch_metric(metric, value)}</td><td>{config}</td>'
                    f"<td>{_reason(r, v)}</td></tr>")
    if not rows:
        return '<p class="caption" id="unfinished-none">Every trial completed.</p>'
    return ('<table class="unfinished" id="unfinished-table"><thead><tr><th>Trial</th><th>Status</th><th>Epochs</th>'
            f"<th>last {esc(r.objective.label)}</th><th>Configuration</th><th>Reason</th></tr></thead>"
            f'<tbody>{"".join(rows)}</tbody></table>')
