"""``sweep compare A B ...``: one page for several studies, trials aligned by their keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.cli import main
from sweep.report.compare import default_output, render_compare, trial_keys
from sweep.report.study import load_study
from sweep.store import COMPLETE, Store
from tests.report_studies import paper_study, rich_study
from tests.test_report import UPIT_YAML, Study, _parse, _results, _upit


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> Store:
    """The rich study and its paper-budget twin in one database, opened read-only (shared)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('two') / 'sweep.db'}")
    rich_study(store)
    paper_study(store)
    return Store(store.url, write=False)


def test_compare_aligns_the_same_trial_keys_across_studies(two: Store, tmp_path, capsys):
    out = tmp_path / "cmp.html"
    assert main(["compare", "rich", "rich-paper", "-o", str(out), "--storage", two.url]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text, page = _parse(out)
    assert [a["id"] for t, a in page.tags if t == "section"] == ["studies", "aligned", "history", "sizes"]
    studies = {tr["data-study"]: [t for _, t in cells] for tr, cells in page.table_rows(id="studies-table")
               if "data-study" in tr}
    assert studies["rich"][7:11] == ["#1", "7.50 dB", "6.00", "7.50"]  # best by validation, its test scores
    assert studies["rich-paper"][7:9] == ["#0", "9.00 dB"]
    rows = [(tr, [t for _, t in cells]) for tr, cells in page.table_rows(id="aligned-table") if "data-key" in tr]
    keys = [tuple(cells[:4]) for _, cells in rows]
    # The first study's order (by its objective; 1 and 4 tie on 7.5: 1 first), then the paper-only key.
    assert keys == [("AM", "softmax", "128", "0.002"), ("AM", "relu", "256", "0.005"), ("PSM", "relu", "64", "0.001"),
                    ("PSM", "sigmoid", "64", "0.004"), ("NPSM", "tanh", "32", "0.003"),
                    ("NPSM", "sigmoid", "32", "0.001")]
    by_key = {tuple(cells[:4]): (tr, cells[4:]) for tr, cells in rows}
    tr, cells = by_key[("AM", "softmax", "128", "0.002")]
    assert (tr["data-s0"], tr["data-s1"]) == ("1", "0")
    assert cells == ["#1", "7.50 dB", "6.00", "7.50", "#0", "9.00 dB", "9.50", "10.00", "+3.50"]
    assert by_key[("PSM", "sigmoid", "64", "0.004")][1][-1] == "+2.00"
    assert by_key[("AM", "relu", "256", "0.005")][1][4:] == ["", "", "", "", ""]  # rich only
    assert text.count('class="plotly-graph-div"') == 2  # best so far (both studies), size vs quality


def test_trial_keys_are_every_knob_any_study_searched(two: Store):
    assert trial_keys([load_study(two, "rich"), load_study(two, "rich-paper")]) == [
        "mask_type", "activation", "hidden_size", "train.lr"]


def test_studies_with_different_objectives_get_a_note_not_a_shared_axis(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mixed.db'}")
    rich_study(store)
    st = Study(store, UPIT_YAML.replace("study: rep", "study: lossy") + "objective: {metric: train_loss, mode: min}\n")
    st.add(0, COMPLETE, [5.0], _results(8, 9, 7, 8), losses=[0.3], **_upit("PSM", "relu", 64))
    text = render_compare(store, ["rich", "lossy"])
    assert 'id="history-note"' in text and text.count('class="plotly-graph-div"') == 1


def test_bad_requests_exit_2_with_one_line_and_create_nothing(two: Store, tmp_path, capsys):
    missing = tmp_path / "none.db"
    cases = [
        (["compare", "rich", "--storage", two.url], "compare needs at least two different studies"),
        (["compare", "rich", "rich", "--storage", two.url], "compare needs at least two different studies"),
        (["compare", "rich", "nope", "--storage", two.url], "no study named 'nope' in this database"),
        (["compare", "a", "b", "--storage", f"sqlite:///{missing}"], "no study named 'a': there is no database at"),
        (["compare", "rich", "rich-paper", "-o", str(tmp_path), "--storage", two.url], "is a folder"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv, message in cases:
        rc = main(argv)
        out, err = capsys.readouterr()
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not missing.exists()
    assert not Path("reports").joinpath("compare_rich_nope.html").exists()


def test_default_output_names_the_studies():
    assert default_output(["a", "b"]) == Path("reports/compare_a_b.html")
    assert default_output(["x" * 100, "y" * 100]) == Path(f"reports/compare_{'x' * 100}_and_1_more.html")
