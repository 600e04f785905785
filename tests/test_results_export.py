"""``sweep results STUDY --format csv|json|latex``: one row per trial x condition x assignment, and
the lecture's uPIT table in LaTeX; bad input exits 2 with one line and creates nothing."""

from __future__ import annotations

import csv
import io
import json

import pytest

from sweep.cli import main
from sweep.store import COMPLETE, Store
from tests.report_studies import rich_study
from tests.test_report import CONV_YAML, Study, _results


@pytest.fixture(scope="module")
def rich(tmp_path_factory) -> Store:
    """tests/report_studies.py's rich study, opened read-only (the tests share it)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('rich') / 'sweep.db'}")
    rich_study(store)
    return Store(store.url, write=False)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_csv_and_json_have_one_row_per_trial_condition_and_assignment(rich: Store, capsys, tmp_path):
    rc, text, _ = _run(capsys, "results", "rich", "--storage", rich.url)
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 * 4 + 3  # 5 complete trials x 2 conditions x 2 assignments; one row each for 5, 6, 7
    head = list(rows[0])
    assert head[:11] == ["study", "trial", "status", "family", "rank", "best", "valid_si_snri", "param_count",
                         "epochs_done", "wall_s", "reason"]
    assert head[11:15] == ["params.mask_type", "params.activation", "params.hidden_size", "params.train.lr"]
    assert head[-7:] == ["condition", "assignment", "n_utterances", "si_snri", "si_snri_ci95", "sdri", "sdri_ci95"]
    one = {(r["condition"], r["assignment"]): r for r in rows if r["trial"] == "1"}
    assert list(one) == [("closed", "optimal"), ("closed", "default"), ("open", "optimal"), ("open", "default")]
    cc = one[("closed", "default")]
    assert (cc["rank"], cc["best"], cc["valid_si_snri"], cc["param_count"]) == ("1", "True", "7.5", "800000")
    assert (cc["params.mask_type"], cc["params.hidden_size"], cc["si_snri"], cc["sdri"]) == ("AM", "128", "6.0", "7.5")
    # 95% CI half-width of the six utterances: t(0.975, 5) * sd / sqrt(6) = 2.5705818 * sqrt(0.8) / sqrt(6)
    assert float(cc["si_snri_ci95"]) == pytest.approx(0.9386438, abs=1e-6) and cc["n_utterances"] == "6"
    failed = next(r for r in rows if r["trial"] == "5")
    assert (failed["status"], failed["condition"], failed["rank"]) == ("failed", "", "")
    assert failed["reason"] == "RuntimeError: CUDA out of memory <script>alert('pwned')</script>"
    assert next(r for r in rows if r["trial"] == "6")["reason"] == "stopped early by the scheduler"

    out = tmp_path / "deep" / "rich.json"
    rc, printed, _ = _run(capsys, "results", "rich", "--format", "json", "-o", str(out), "--storage", rich.url)
    assert rc == 0 and printed.strip() == str(out)
    records = json.loads(out.read_text())
    assert [list(r) for r in records] == [head] * len(rows)  # the same columns, in the same order
    assert records[5]["si_snri"] == 6.0 and records[5]["best"] is True  # trial 1, closed, default
    assert records[-1]["trial"] == 7 and records[-1]["si_snri"] is None


def test_latex_is_the_lecture_upit_table(rich: Store, capsys):
    rc, tex, _ = _run(capsys, "results", "rich", "--format", "latex", "--storage", rich.url)
    assert rc == 0
    lines = tex.splitlines()
    assert lines[1] == r"\begin{tabular}{llrrrrrrrr}" and lines[-1] == r"\end{tabular}"
    # The lecture's column order: SDRi before SI-SNRi, optimal before default, CC before OC.
    assert lines[3] == r" & & \multicolumn{4}{c}{SDRi (dB)} & \multicolumn{4}{c}{SI-SNRi (dB)} \\"
    assert lines[5] == r"Mask & Activation & CC & OC & CC & OC & CC & OC & CC & OC \\"
    body = lines[lines.index(r"\midrule") + 1:lines.index(r"\bottomrule")]
    assert len(body) == 12  # 3 masks x 4 activations
    assert body[0] == r"AM & softmax & 8.50 & 8.00 & 7.50 & 7.00 & 7.00 & 6.50 & 6.00 & 5.50 \\"  # trial 1
    assert body[1] == r" & sigmoid & -- & -- & -- & -- & -- & -- & -- & -- \\"
    assert body[6].startswith(" & relu & 7.50 & 7.00") and body[4].startswith("PSM & softmax & --")  # trial 0


def test_latex_of_a_family_without_mask_knobs_has_one_row_per_trial(tmp_path, capsys):
    store = Store(f"sqlite:///{tmp_path / 'conv.db'}")
    st = Study(store, CONV_YAML)
    st.add(0, COMPLETE, [8.0], _results(0, 0, 11.0, 11.5, optimal=False), N=16, activation="relu")
    st.add(1, COMPLETE, [9.0], _results(0, 0, 10.0, 10.5, optimal=False), N=32, activation="sigmoid")
    rc, tex, _ = _run(capsys, "results", "conv", "--format", "latex", "--storage", store.url)
    assert rc == 0
    body = tex.splitlines()
    body = body[body.index(r"\midrule") + 1:body.index(r"\bottomrule")]
    assert body == [r"\#1 & N=32, activation=sigmoid & 10.50 & 10.00 & 10.00 & 9.50 \\",
                    r"\#0 & N=16, activation=relu & 11.50 & 11.00 & 11.00 & 10.50 \\"]  # by the objective


def test_bad_requests_exit_2_with_one_line_and_create_nothing(rich: Store, tmp_path, capsys):
    missing = tmp_path / "none.db"
    cases = [
        (["results", "rich", "--storage", f"sqlite:///{missing}"], "no study named 'rich': there is no database at"),
        (["results", "nope", "--storage", rich.url], "no study named 'nope' in this database (known: rich)"),
        (["results", "rich", "--format", "xml", "--storage", rich.url], "--format 'xml': choose one of csv, json, latex"),
        (["results", "rich", "-o", str(tmp_path), "--storage", rich.url], "is a folder; give a file name"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv, message in cases:
        rc, out, err = _run(capsys, *argv)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == before and not missing.exists()
