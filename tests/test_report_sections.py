"""The report's rules and sections: best on validation everywhere (``sweep status`` too), the
Pareto front of size against the objective, the per-family table beside the lecture's, the
search diagnostics, and the trials that did not complete with their reasons.

The studies are written without training (tests/report_studies.py has the rich one's table).
"""

from __future__ import annotations

import pytest

from sweep.report import diagnostics
from sweep.report.figures import FRONT_LABEL, params_scatter
from sweep.report.optuna_study import as_optuna_study
from sweep.report.page import write_report
from sweep.report.pareto import front_views, pareto_front
from sweep.report.ranking import best_trial
from sweep.report.study import load_study
from sweep.store import COMPLETE, Store
from tests.report_studies import rich_study
from tests.test_report import UPIT_YAML, Study, _board, _parse, _results, _upit


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> Store:
    """tests/report_studies.py's rich study, opened read-only (the tests share it)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('rich') / 'sweep.db'}")
    rich_study(store)
    return Store(store.url, write=False)


def _rows(page, **table) -> list[tuple[dict, list[str]]]:
    return [(tr, [t for _, t in cells]) for tr, cells in page.table_rows(**table) if "data-trial" in tr]


def test_best_is_the_objective_on_validation_everywhere_and_status_names_it_too(rich: Store, tmp_path, capsys):
    """Trial 3 is best on the test set and trial 4 ties trial 1 on validation: the best is 1."""
    from sweep.cli import main

    text, page = _parse(write_report(rich, "rich", tmp_path / "r.html"))
    assert '<dd data-field="Best trial">#1 ' in text
    _, board, order = _board(page)
    assert order[:5] == [1, 4, 0, 3, 2] and board[1][0].get("data-tie") == "best"
    rule = text.split('id="ranking-rule"')[1].split("</p>")[0]
    assert "validation set at the epoch whose weights were tested" in rule and "never used to choose" in rule
    assert main(["status", "rich", "--storage", rich.url]) == 0
    assert "best valid SI-SNRi 7.50 dB (trial 1:" in capsys.readouterr().out
    # One function for both: the store's rows and the report's views give the same trial.
    r = load_study(rich, "rich")
    rows = rich.trials(rich.study("rich").id)
    assert best_trial(rows, r.objective).number == best_trial(r.views, r.objective).number == 1


@pytest.mark.parametrize("points, front", [
    ([("a", 1, 1.0), ("b", 2, 2.0), ("c", 2, 1.0), ("d", 3, 2.0), ("e", 1, 1.0)], ["a", "e", "b"]),
    ([("big", 9, 5.0), ("small", 1, 5.0)], ["small"]),  # as good and smaller dominates
    ([("x", 5, 3.0)], ["x"]),
    ([], []),
])
def test_pareto_front_keeps_the_points_nothing_beats_on_both_axes(points, front):
    assert pareto_front(points) == front


def test_front_is_chosen_on_validation_and_drawn_at_the_test_score(rich: Store, tmp_path):
    r = load_study(rich, "rich")
    assert [v.number for v in front_views(r)] == [2, 0, 1]  # not 3, the best on test (300k, valid 4.0)
    trace = next(t for t in params_scatter(r).data if t.name == FRONT_LABEL)
    assert list(trace.x) == [0.1, 0.2, 0.8] and list(trace.y) == [7.0, 5.0, 6.0]
    _, page = _parse(write_report(rich, "rich", tmp_path / "r.html"))
    rows = _rows(page, id="pareto-table")
    assert [int(tr["data-trial"]) for tr, _ in rows] == [2, 0, 1]
    assert rows[0][1][:5] == ["#2", "100.0k", "3.00 dB", "7.00", "8.50"]
    assert "mask_type=NPSM, activation=tanh, hidden_size=32" in rows[0][1][5]


def test_front_follows_a_min_objective(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'min.db'}")
    st = Study(store, UPIT_YAML.replace("study: rep", "study: lossy") + "objective: {metric: train_loss, mode: min}\n")
    for number, loss, size in ((0, 0.5, 300), (1, 0.2, 900), (2, 0.9, 100), (3, 0.6, 400)):
        st.add(number, COMPLETE, [1.0], _results(5, 6, 4, 5), losses=[loss], **_upit("PSM", "relu", 64))
        store.update_trial(st.id, number, param_count=size)
    assert [v.number for v in front_views(load_study(store, "lossy"))] == [2, 0, 1]  # 3: larger and worse than 0


CAUSAL_CONV = """study: tcn
family: convtasnet
sampler: random
n_trials: 2
params:
  N: {choice: [16, 32]}
  norm: cLN
  causal: true
train:
  epochs: 1
"""


def test_per_family_table_puts_our_best_above_the_lectures_rows(tmp_path, rich: Store):
    store = Store(f"sqlite:///{tmp_path / 'conv.db'}")
    st = Study(store, CAUSAL_CONV)
    st.add(0, COMPLETE, [9.0], _results(0, 0, 11.0, 11.5, optimal=False), N=16)
    st.add(1, COMPLETE, [8.0], _results(0, 0, 12.0, 12.5, optimal=False), N=32)  # better on test: not picked
    store.update_trial(st.id, 0, param_count=5_100_000)
    _, page = _parse(write_report(store, "tcn", tmp_path / "c.html"))
    rows = [(tr, [t for _, t in cells]) for tr, cells in page.table_rows(**{"class": "family-best"})][1:]
    assert rows[0][0].get("data-trial") == "0"
    assert rows[0][1] == ["ours: trial #0", "5.10M", "yes", "11.00", "11.50"]  # causal: cLN and causal=true
    systems = [tr["data-system"] for tr, _ in rows[1:]]
    assert systems[:3] == ["DPCL++", "uPIT-BLSTM-ST", "DANet"] and systems[-3:] == ["IRM", "IBM", "WFM"]
    gln = next(cells for tr, cells in rows if tr.get("data-system") == "Conv-TasNet-gLN")
    assert gln == ["Conv-TasNet-gLN", "5.1M", "no", "15.3", "15.6"]
    # uPIT's lecture table is the mask table: the per-family table says it has no published rows.
    text, page = _parse(write_report(rich, "rich", tmp_path / "r.html"))
    assert [tr.get("data-trial") for tr, _ in page.table_rows(**{"class": "family-best"})][1:] == ["1"]
    assert "The lecture has no table of upit in this layout" in text


def test_per_family_table_lists_the_systems_a_family_declares_from_any_table():
    import pandas as pd

    from sweep.report.family_best import published_rows
    from sweep.report.study import REFERENCE_CSV

    published = pd.read_csv(REFERENCE_CSV)
    # DPTNet has no table of its own in the lecture: its row is in the SepFormer table.
    assert published_rows(published, "dptnet")[["system", "params_m"]].values.tolist() == [["DPTNet", 2.6]]
    # A system in two tables is listed once, from the one that says most (its size and score).
    twice = pd.concat([published, published[published["system"] == "DPTNet"].assign(table="tasnet", params_m=None)])
    assert published_rows(twice, "dptnet")[["table", "params_m"]].values.tolist() == [["sepformer", 2.6]]


def test_search_diagnostics_follow_the_objective(rich: Store):
    r = load_study(rich, "rich")
    study = as_optuna_study(r)
    assert [t.number for t in study.trials] == list(range(8))
    assert study.trials[1].params == {"mask_type": "AM", "activation": "softmax", "hidden_size": 128,
                                      "train.lr": pytest.approx(0.002)}
    history = diagnostics.history_figure(study, r)
    best = next(t for t in history.data if t.name == "Best Value")
    assert list(best.y) == [6.0] + [7.5] * 7  # carried across trials 2, 3 (worse) and 5-7 (no value)
    clock = diagnostics.wallclock_figure(r)
    assert list(clock.data[0].x) == [8.0, 18.0, 28.0, 38.0, 48.0]  # minutes since the first start
    assert list(clock.data[1].y) == [6.0, 7.5, 7.5, 7.5, 7.5]
    parallel = diagnostics.parallel_figure(study, r)
    assert list(parallel.layout.xaxis.ticktext) == ["valid SI-SNRi", "activation", "hidden_size", "mask_type",
                                                    "train.lr"]
    lines = [t for t in parallel.data if t.mode == "lines"]  # one per complete trial, objective first
    assert sorted(float(t.customdata[0][1]) for t in lines) == [3.0, 4.0, 6.0, 7.5, 7.5]
    importance = diagnostics.importance_figure(study, r)
    assert sorted(importance.data[0].y) == ["activation", "hidden_size", "mask_type", "train.lr"]
    timeline = diagnostics.timeline_figure(study)
    assert {t.name for t in timeline.data} == {"COMPLETE", "FAIL", "PRUNED", "RUNNING"}


def test_importance_degrades_to_one_line_and_the_page_still_renders(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'few.db'}")
    st = Study(store, UPIT_YAML.replace("study: rep", "study: few"))
    st.add(0, COMPLETE, [2.0], _results(8, 9, 7, 8), **_upit("PSM", "relu", 64))
    text, _ = _parse(write_report(store, "few", tmp_path / "few.html"))
    note = text.split('id="importance-note">')[1].split("</p>")[0]
    assert note == "Hyperparameter importance needs at least 2 complete trials; this study has 1."
    st.add(1, COMPLETE, [3.0], _results(8, 9, 7, 8), **_upit("PSM", "relu", 64))  # the same knobs again
    r = load_study(store, "few")
    assert diagnostics.importance_figure(as_optuna_study(r), r) == (
        "Hyperparameter importance needs a searched knob that took two values among the complete trials.")


def test_trials_that_did_not_complete_are_listed_with_their_reasons(rich: Store, tmp_path):
    text, page = _parse(write_report(rich, "rich", tmp_path / "r.html"))
    rows = {int(tr["data-trial"]): cells for tr, cells in _rows(page, id="unfinished-table")}
    assert sorted(rows) == [5, 6, 7]
    assert rows[5][1] == "failed" and rows[5][-1].startswith(
        "RuntimeError: CUDA out of memory <script>alert('pwned')</script>more")  # "more" opens the traceback
    assert rows[6][1] == "pruned" and rows[6][-1] == "stopped early by the scheduler (none) after epoch 1"
    assert rows[7][1] == "running" and rows[7][3] == "2.50"
    failed = text.split('id="unfinished-table"')[1].split("</table>")[0]
    assert "<details><summary>more</summary>" in failed and "Traceback (most recent call last):" in failed
    assert "<script>alert" not in text


def test_an_interrupted_trial_is_counted_listed_with_its_reason_and_still_running_for_optuna(tmp_path):
    from optuna.trial import TrialState

    from sweep.store import INTERRUPTED

    store = Store(f"sqlite:///{tmp_path / 'int.db'}")
    st = Study(store, UPIT_YAML.replace("study: rep", "study: stopped"))
    st.add(0, COMPLETE, [2.0, 3.0], _results(8, 9, 7, 8), **_upit("PSM", "relu", 64))
    st.add(1, INTERRUPTED, [1.0], error="interrupted by SIGINT", **_upit("AM", "relu", 64))
    text, page = _parse(write_report(store, "stopped", tmp_path / "s.html"))
    assert "<span><b>1</b> interrupted</span>" in text
    assert [cells[-1] for _, cells in _rows(page, id="unfinished-table")] == ["interrupted by SIGINT"]
    assert as_optuna_study(load_study(store, "stopped")).trials[1].state == TrialState.RUNNING
