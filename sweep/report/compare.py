"""``sweep compare A B ...``: one page for several studies of one database.

Typical pairs: the same spec on the ``cpu`` and ``paper`` budgets, on the default and on
LibriMix data, or with two samplers. The page has:

* one row per study: what it ran and its best trial, by each study's own objective on
  validation (:func:`sweep.report.ranking.best_trial`), with that trial's test scores;
* the trials aligned by their **trial key**: the values of every knob any of the studies
  searched (mask knobs included). A key several trials of a study share shows that study's best
  of them by its objective. A Δ column gives each later study's test SI-SNRi minus the first's;
* the best objective so far against the trial number, one line per study (Optuna's figure;
  only when the studies share an objective);
* test SI-SNRi against parameter count, one series per study.

Test scores are at :data:`sweep.report.views.BESIDE_PUBLISHED` (closed condition, default
assignment), which every family has, so studies of different families line up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna.visualization as ov
import plotly.graph_objects as go

from sweep.report.figures import FAMILY_COLORS, fig_html
from sweep.report.optuna_study import as_optuna_study, quiet
from sweep.report.page import html_document, nav_and_sections, write_atomic
from sweep.report.ranking import RULE, best_trial, ranked
from sweep.report.study import StudyReport, dataset_items, load_study
from sweep.report.tables import config_keys, esc, fmt_db, fmt_duration, fmt_params, fmt_value
from sweep.report.views import BESIDE_PUBLISHED, TrialView, num
from sweep.scoring.registry import summary_metrics
from sweep.store import COMPLETE, FAILED, PRUNED, Store

__all__ = ["default_output", "render_compare", "trial_keys", "write_compare"]


def default_output(names: list[str]) -> Path:
    """``reports/compare_A_B.html``; long lists of names are shortened to the first one."""
    joined = "_".join(names)
    return Path("reports") / (f"compare_{joined}.html" if len(joined) <= 120
                              else f"compare_{names[0][:100]}_and_{len(names) - 1}_more.html")


def write_compare(store: Store, names: list[str], path: Path) -> Path:
    """Render the comparison of ``names`` into ``path``; KeyError names a study that is not there."""
    return write_atomic(Path(path), render_compare(store, names))


def trial_keys(reports: list[StudyReport]) -> list[str]:
    """The knobs that tell trials apart in any of the studies: mask knobs, then searched keys."""
    return list(dict.fromkeys(k for r in reports for k in config_keys(r)))


def _key(v: TrialView, keys: list[str]) -> tuple[str, ...]:
    return tuple(fmt_value(v.params.get(k)) for k in keys)


def _aligned(reports: list[StudyReport], keys: list[str]) -> list[tuple[tuple[str, ...], list[TrialView | None]]]:
    """Per trial key, each study's best complete trial with it; rows ordered by the first study's
    objective (best first, ties by trial number), then keys the first study lacks."""
    per_study = []
    for r in reports:
        groups: dict[tuple[str, ...], list[TrialView]] = {}
        for v in ranked(r.views):
            groups.setdefault(_key(v, keys), []).append(v)
        per_study.append({k: best_trial(vs, r.objective) for k, vs in groups.items()})
    first, objective = per_study[0], reports[0].objective

    def order(k: tuple[str, ...]) -> tuple:
        v = first.get(k)
        has = v is not None and v.objective_value is not None
        return (0 if has else 1, -objective.key(v.objective_value) if has else 0.0, v.number if v else 0, k)
    all_keys = sorted({k for s in per_study for k in s}, key=order)
    return [(k, [s.get(k) for s in per_study]) for k in all_keys]


def _study_row(r: StudyReport) -> str:
    counts = {s: sum(v.status == s for v in r.views) for s in (COMPLETE, PRUNED, FAILED)}
    best = r.best
    dataset = ", ".join(f"{k}={fmt_value(v)}" for k, v in dataset_items(r) if v is not None and k != "data_root")
    wall = sum(x for x in (num(v.row.get("wall_s")) for v in r.views) if x is not None)
    cells = [f"<td><b>{esc(r.row.name)}</b></td>", f"<td>{esc(r.row.family)}</td>",
             f"<td>{esc(r.row.sampler)}</td>", f"<td>{esc(r.row.budget or '')}</td>",
             f"<td>{esc(dataset or r.row.dataset)}</td>", f"<td>{esc(r.objective.mode)} {esc(r.objective.label)}</td>",
             f'<td class="num">{r.row.n_trials} / {counts[COMPLETE]} / {counts[PRUNED]} / {counts[FAILED]}</td>',
             f'<td class="num">{"#" + str(best.number) if best else ""}</td>',
             f'<td class="num">{esc(r.objective.fmt(best.objective_value)) if best else ""}</td>']
    cells += [f'<td class="num">{fmt_db(best.published_score(m.name)) if best else ""}</td>' for m in summary_metrics()]
    cells += [f'<td class="num">{fmt_params(best.row.get("param_count")) if best else ""}</td>',
              f'<td class="num">{fmt_duration(wall)}</td>']
    return f'<tr data-study="{esc(r.row.name)}">{"".join(cells)}</tr>'


def _studies_table(reports: list[StudyReport]) -> str:
    head = ["Study", "Family", "Sampler", "Budget", "Dataset", "Objective", "Trials planned / complete / pruned / failed",
            "Best trial", "its objective (validation)", *[f"its test {m.label} (dB)" for m in summary_metrics()],
            "its params", "Trial wall time, summed"]
    return ('<div class="scroll"><table class="studies" id="studies-table"><thead><tr>'
            + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(_study_row(r) for r in reports) + "</tbody></table></div>")


def _aligned_table(reports: list[StudyReport]) -> str:
    keys = trial_keys(reports)
    rows = _aligned(reports, keys)
    metrics = summary_metrics()
    per = 2 + len(metrics)
    head1 = "".join(f'<th rowspan="2">{esc(k)}</th>' for k in keys)
    head1 += "".join(f'<th colspan="{per + (i > 0)}" class="grp">{esc(r.row.name)}</th>' for i, r in enumerate(reports))
    head2 = ""
    for i, r in enumerate(reports):
        head2 += f'<th class="sub">trial</th><th class="sub">{esc(r.objective.label)}</th>'
        head2 += "".join(f'<th class="sub">{esc(m.label)}</th>' for m in metrics)
        head2 += '<th class="sub">Δ SI-SNRi</th>' if i > 0 else ""
    body = []
    for key, trials in rows:
        cells = [f"<td>{esc(x)}</td>" for x in key]
        base = trials[0].published_score() if trials[0] is not None else None
        for i, (r, v) in enumerate(zip(reports, trials)):
            cells += [f'<td class="num">{"#" + str(v.number) if v else ""}</td>',
                      f'<td class="num">{esc(r.objective.fmt(v.objective_value)) if v else ""}</td>']
            cells += [f'<td class="num">{fmt_db(v.published_score(m.name)) if v else ""}</td>' for m in metrics]
            if i > 0:
                mine = v.published_score() if v else None
                delta = f"{mine - base:+.2f}" if mine is not None and base is not None else ""
                cells.append(f'<td class="num delta">{delta}</td>')
        attrs = " ".join(f'data-s{i}="{v.number}"' for i, v in enumerate(trials) if v is not None)
        body.append(f'<tr data-key="{esc("|".join(key))}" {attrs}>{"".join(cells)}</tr>')
    if not body:
        body.append(f'<tr><td colspan="{len(keys) + per * len(reports)}" class="dim">no complete trials yet</td></tr>')
    return (f'<div class="scroll"><table class="board" id="aligned-table"><thead><tr>{head1}</tr><tr>{head2}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>')


def _history(reports: list[StudyReport]) -> str:
    objectives = {(r.objective.metric, r.objective.mode) for r in reports}
    if len(objectives) > 1:
        return ('<p class="note" id="history-note">The studies optimise different objectives, so their best-so-far '
                "curves share no axis.</p>")
    with quiet():
        fig = ov.plot_optimization_history([as_optuna_study(r) for r in reports],
                                           target_name=esc(reports[0].objective.label))
    fig.update_layout(title=None, height=420, margin=dict(l=60, r=20, t=30, b=50))
    fig.update_xaxes(title="trial number")
    return fig_html(fig)


def _sizes(reports: list[StudyReport]) -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(reports):
        points = [(v, num(v.row.get("param_count")), v.published_score()) for v in ranked(r.views)]
        points = [(v, n, s) for v, n, s in points if n and s is not None]
        fig.add_trace(go.Scatter(
            x=[n / 1e6 for _, n, _ in points], y=[s for _, _, s in points], mode="markers", name=esc(r.row.name),
            marker=dict(size=10, color=FAMILY_COLORS[i % len(FAMILY_COLORS)], line=dict(width=1, color="white")),
            hovertext=[f"<b>{esc(r.row.name)}</b> trial {v.number}<br>{fmt_params(n)} parameters<br>SI-SNRi {s:.2f} dB"
                       for v, n, s in points], hoverinfo="text"))
    fig.update_layout(height=460, xaxis=dict(type="log", title="parameters (millions, log scale)"),
                      yaxis=dict(title="SI-SNRi (dB, test)"), margin=dict(l=60, r=20, t=30, b=50),
                      legend=dict(orientation="h", y=1.1, x=0))
    return fig


def render_compare(store: Store, names: list[str]) -> str:
    """The comparison page; KeyError names the first study that is not in ``store``."""
    reports = [load_study(store, n) for n in names]
    cond, assign = BESIDE_PUBLISHED
    scores = f"test scores on the {esc(cond)} condition, {esc(assign)} assignment"
    sections: list[tuple[str, str, str, Any]] = [
        ("studies", "Studies", "The studies",
         f'<p class="caption">Best trial per study by its own objective: {esc(RULE)}. Its {scores}.</p>'
         + _studies_table(reports)),
        ("aligned", "Aligned trials", "Trials aligned by their key",
         '<p class="caption">One row per trial key (the values of the knobs any study searched); per study the '
         f"best trial with that key by its objective, and its {scores}. Δ: this study's test SI-SNRi minus the "
         f"first study's ({esc(reports[0].row.name)}). Rows follow the first study's objective.</p>"
         + _aligned_table(reports)),
        ("history", "Best so far", "Best objective so far, by trial", _history(reports)),
        ("sizes", "Size vs quality", "Test SI-SNRi against parameter count",
         f'<p class="caption">Complete trials, {scores}.</p>' + fig_html(_sizes(reports))),
    ]
    nav, body = nav_and_sections(sections)
    title = "Comparing " + ", ".join(names)
    header = (f"<header><h1>Comparing {len(names)} studies: "
              + ", ".join(f"<code>{esc(n)}</code>" for n in names) + "</h1></header>")
    return html_document(f"sweep compare: {title}", header + nav + body)
