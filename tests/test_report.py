"""``sweep report``: the HTML page of one study, checked as a file and in a real (headless) browser.

Studies are built the way the driver builds them: the spec text through the real parser
(:func:`sweep.spec.parse_spec`, with real families and their real parameter names), and every
row through the Store's public methods on a temporary SQLite file.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sweep.report.page import SECTIONS, write_report
from sweep.spec import parse_spec
from sweep.store import COMPLETE, FAILED, PRUNED, RUNNING, Store

CHROMIUM = "/usr/bin/chromium"
UPIT_YAML = """study: rep
family: upit
sampler: random
n_trials: 9
params:
  mask_type: {choice: [AM, PSM, NPSM]}
  activation: {choice: [softmax, sigmoid, relu, tanh]}
  hidden_size: {choice: [64, 128]}
  num_layers: 2
train:
  epochs: 3
"""
# Conv-TasNet has an `activation` too, but no spectral mask: it is an ordinary searched column.
CONV_YAML = """study: conv
family: convtasnet
sampler: random
n_trials: 2
params:
  N: {choice: [16, 32]}
  activation: {choice: [sigmoid, relu]}
  norm: gLN
train:
  epochs: 1
"""
CROSS_YAML = """study: cross
sampler: grid
variants:
  blstm: {family: upit, preset: cpu, params: {mask_type: NPSM, activation: sigmoid}}
  tcn: {family: convtasnet, preset: cpu}
train:
  epochs: 1
"""
XSS = "<script>alert('pwned')</script>"


class Study:
    """A study in ``store`` whose trials are written as the driver's StoreWriter writes them: a
    :class:`~sweep.plan.TrialPlan` resolved by the spec, and the objective's value per epoch."""

    def __init__(self, store: Store, text: str, stored: str | None = None) -> None:
        """``stored``: other YAML to record as the launched text (a spec gone stale since)."""
        self.store, self.spec = store, parse_spec(text, "search_spaces/test.yaml")
        record = self.spec if stored is None else dataclasses.replace(self.spec, text=stored)
        self.id = store.ensure_study(self.spec.study, record).id

    def add(self, number: int, status: str, valid: list[float], results: list[dict] | None = None,
            error: str | None = None, losses: list[float] | None = None, **sampled) -> None:
        assert set(sampled) <= set(self.spec.searched()), f"not searched by the spec: {sampled}"
        self.store.trial_queued(self.id, number, self.spec.resolve_trial(sampled))
        for epoch, valid_si_snri in enumerate(valid, 1):
            reported = {"valid_si_snri": valid_si_snri, "train_loss": losses[epoch - 1] if losses else 1.0 / epoch}
            self.store.add_epoch(self.id, number, epoch, reported["train_loss"], valid_si_snri, 10.0 * epoch,
                                 reported[self.spec.objective.metric])
        if results:
            self.store.add_results(self.id, number, results)
        self.store.update_trial(self.id, number, status=status, error=error, param_count=1_234_567 + number,
                                wall_s=65.0 + number, train_s=50.0, eval_s=5.0, device="cpu")


def _results(si_opt: float, sdri_opt: float, si_def: float, sdri_def: float, optimal: bool = True) -> list[dict]:
    """Closed and open rows; open scores are the closed ones minus 0.5 dB so the columns differ."""
    out = []
    for cond, d in (("closed", 0.0), ("open", 0.5)):
        if optimal:
            out.append(dict(condition=cond, assignment="optimal", si_snri=si_opt - d, sdri=sdri_opt - d,
                            n_utterances=10))
        out.append(dict(condition=cond, assignment="default", si_snri=si_def - d, sdri=sdri_def - d, n_utterances=10))
    return out


def _upit(mask: str, act: str, hidden: int) -> dict:
    return dict(mask_type=mask, activation=act, hidden_size=hidden)


@pytest.fixture
def study_db(tmp_path: Path) -> Store:
    """A uPIT study in progress: five complete trials (three share PSM/relu), failed, pruned and running ones."""
    store = Store(f"sqlite:///{tmp_path / 'sweep.db'}")
    st = Study(store, UPIT_YAML)
    # Three PSM/relu trials; the mask table must show trial 0, the best on validation (the
    # objective), though it is neither the first nor the last stored, nor the best on the test set (3).
    st.add(3, COMPLETE, [1.0, 2.0, 2.5], _results(8.0, 9.0, 7.0, 8.0), **_upit("PSM", "relu", 64))
    st.add(0, COMPLETE, [2.0, 4.0, 5.5], _results(7.25, 8.5, 6.75, 7.5), **_upit("PSM", "relu", 128))
    st.add(7, COMPLETE, [0.5, 1.0], _results(2.0, 2.5, 1.5, 2.0), **_upit("PSM", "relu", 64))
    st.add(1, COMPLETE, [3.0, 6.0, 8.0], _results(9.75, 10.25, 9.0, 9.5), **_upit("AM", "softmax", 64))
    st.add(2, COMPLETE, [1.0, 2.0, 3.0], _results(3.25, 4.5, 3.0, 4.0), **_upit("NPSM", "tanh", 64))
    st.add(4, FAILED, [1.0], error=f"Traceback (most recent call last):\n  File x\nRuntimeError: exploded {XSS}\n",
           **_upit("AM", "tanh", 64))
    st.add(5, PRUNED, [0.5], **_upit("AM", "relu", 128))
    st.add(6, RUNNING, [4.5], **_upit("NPSM", "relu", 128))
    return store


class _Page(HTMLParser):
    """Collects tags' attributes, the text of inline scripts, and table rows (cells with their class)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self.rows: list[tuple[dict, dict, list[tuple[str, str]]]] = []  # (table attrs, tr attrs, cells)
        self._table: dict = {}
        self._cell: list[str] | None = None
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "table":
            self._table = a
        elif tag == "tr":
            self.rows.append((self._table, a, []))
        elif tag in ("td", "th"):
            self._cell = [a.get("class", "")]
        elif tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][2].append((self._cell[0], "".join(self._cell[1:]).strip()))
            self._cell = None
        elif tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data
        elif self._cell is not None:
            self._cell.append(data)

    def table_rows(self, **table_attrs: str) -> list[tuple[dict, list[tuple[str, str]]]]:
        return [(tr, cells) for t, tr, cells in self.rows if all(t.get(k) == v for k, v in table_attrs.items())]


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


def _external(page: _Page) -> list[tuple[str, str, str]]:
    """Attributes that would make a browser fetch (or link to) something off this machine."""
    keys = ("src", "href", "xlink:href", "srcset", "data", "poster", "action")
    return [(t, k, v) for t, a in page.tags for k, v in a.items()
            if k in keys and v.strip().lower().startswith(("http:", "https:", "//"))]


def _parse(path: Path) -> tuple[str, _Page]:
    text = path.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


def _external(page: _Page) -> list[tuple[str, str, str]]:
    """Attributes that would make a browser fetch (or link to) something off this machine."""
    keys = ("src", "href", "xlink:href", "srcset", "data", "poster", "action")
    return [(t, k, v) for t, a in page.tags for k, v in a.items()
            if k in keys and v.strip().lower().startswith(("http:", "https:", "//"))]


def _board(page: _Page) -> tuple[list[str], dict[int, tuple[dict, list[str]]], list[int]]:
    """The leaderboard: first header row's texts, {trial: (tr attrs, cell texts)}, and the row order."""
    rows = page.table_rows(id="leaderboard-table")
    head = [t for _, t in rows[0][1]]
    body = [(tr, cells) for tr, cells in rows if "data-trial" in tr]
    return (head, {int(tr["data-trial"]): (tr, [t for _, t in cells]) for tr, cells in body},
            [int(tr["data-trial"]) for tr, _ in body])


def _mask_table(page: _Page, metric: str, family: str = "upit") -> dict[tuple[str, str], list[tuple[str, str]]]:
    return {(tr["data-mask"], tr["data-activation"]): cells
            for tr, cells in page.table_rows(**{"class": "masks", "data-family": family, "data-metric": metric})
            if "data-mask" in tr}


def test_report_is_one_offline_file_with_db_text_escaped(study_db: Store, tmp_path: Path) -> None:
    out = write_report(study_db, "rep", tmp_path / "deep" / "er" / "rep.html")
    assert out == tmp_path / "deep" / "er" / "rep.html" and out.is_file()
    text, page = _parse(out)
    assert _external(page) == []
    assert not any(t == "link" for t, _ in page.tags), "no stylesheets or fonts from elsewhere"
    assert "@import" not in text and "url(http" not in text and "fonts.googleapis" not in text
    # plotly.js itself is inline, exactly once, and no figure loads it from a CDN.
    bundles = [s for s in page.scripts if "plotly.js v" in s[:200]]
    assert len(bundles) == 1 and len(bundles[0]) > 1_000_000
    assert text.count("plotly.js v") == 1 and not any(t == "script" and a.get("src") for t, a in page.tags)
    # scatter; best so far by trial and by wall clock, parallel coordinates, importance, timeline; curves
    assert text.count('class="plotly-graph-div"') == 7
    # The failed trial's error: shown (last line), escaped, never as markup.
    assert XSS not in text and not any("alert(" in s for s in page.scripts if s not in bundles)
    assert "RuntimeError: exploded &lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in text
    board_html = text.split('id="leaderboard-table"')[1].split("</table>")[0]
    assert "exploded" in board_html and "Traceback" not in board_html  # only the reason goes in the table
    # Header: name, family, sampler, objective, the best trial and the counts.
    header = text[text.index("<header>"):text.index("</header>")]
    for needle in ("rep", "upit", "random", "max valid SI-SNRi", "<b>9</b> planned", "<b>5</b> finished",
                   "<b>1</b> failed", "<b>1</b> pruned", "<b>1</b> running", "Code version", "Generated"):
        assert needle in header, needle
    assert '<dd data-field="Best trial">#1 ' in header  # trial 1 ends with the highest valid SI-SNRi


def test_nav_links_and_section_ids_come_from_one_list(study_db: Store, tmp_path: Path) -> None:
    _, page = _parse(write_report(study_db, "rep", tmp_path / "rep.html"))
    links = [a["href"][1:] for t, a in page.tags if t == "a" and a.get("href", "").startswith("#")]
    ids = [a["id"] for t, a in page.tags if t == "section"]
    # A uPIT study shows every section but the paired contrasts: this one stores means, not utterances.
    assert links == ids == [s.id for s in SECTIONS if s.id != "contrasts"]


def test_mask_table_has_published_and_our_numbers(study_db: Store, tmp_path: Path) -> None:
    _, page = _parse(write_report(study_db, "rep", tmp_path / "rep.html"))
    sdri = _mask_table(page, "sdri")
    # The rows are the values uPIT's mask knobs allow, in the family's order.
    assert len(sdri) == 12 and list(sdri)[:4] == [("AM", a) for a in ("softmax", "sigmoid", "relu", "tanh")]
    psm_relu = sdri[("PSM", "relu")]
    assert [t for c, t in psm_relu if "pub" in c] == ["10.9", "10.8", "9.4", "9.4"]  # published uPIT-BLSTM
    assert [t for c, t in sdri[("AM", "softmax")] if "pub" in c] == ["10.4", "10.3", "9.0", "8.7"]
    # Ours: trial 0 (best validation of the three PSM/relu trials), SDRi opt CC/OC, def CC/OC.
    assert [t for c, t in psm_relu if "ours" in c] == ["8.50", "8.00", "7.50", "7.00"]
    assert ("num dim", "#0") in psm_relu
    assert [t for c, t in sdri[("AM", "sigmoid")] if "ours" in c] == ["", "", "", ""]  # no trial: blank
    si = _mask_table(page, "si_snri")
    assert [t for c, t in si[("AM", "softmax")] if "ours" in c] == ["9.75", "9.25", "9.00", "8.50"]
    assert not any("pub" in c for cells in si.values() for c, _ in cells)  # the paper has no SI-SNRi


def test_leaderboard_ranked_by_the_objective_incomplete_last(study_db: Store, tmp_path: Path) -> None:
    text, page = _parse(write_report(study_db, "rep", tmp_path / "rep.html"))
    head, board, order = _board(page)
    # Complete trials by their last valid SI-SNRi (8.0, 5.5, 3.0, 2.5, 1.0), not by the test set
    # (trial 3 has the higher test score than 0); then running, pruned, failed.
    assert order == [1, 0, 2, 3, 7, 6, 5, 4]
    assert board[1][0].get("data-tie") == "best"
    # One family: no Family column repeating it on every row.
    assert head[:6] == ["Rank", "Trial", "Mask", "Activation", "hidden_size", "Params"]
    assert board[1][1][:7] == ["1", "1", "AM", "softmax", "64", "1.23M", "9.75"]  # hidden_size was searched
    assert board[4][1][0] == "" and board[7][1][0] == "5"  # only complete trials are ranked
    assert "1m 05s" in board[0][1] and "1.23M" in board[0][1] and "5.50" in board[0][1]
    thead = text.split('id="leaderboard-table"')[1].split("</thead>")[0]
    assert "num_layers" not in thead and "rnn_type" not in thead  # fixed: no column
    assert "objective, max" in thead and "opt." in thead


def test_study_without_complete_trials_still_renders(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    st = Study(store, UPIT_YAML.replace("study: rep", "study: nothing-yet"))
    st.add(0, FAILED, [], error=XSS, **_upit("AM", "relu", 64))
    text, page = _parse(write_report(store, "nothing-yet", tmp_path / "e.html"))
    assert "No trial of this study has completed yet" in text
    assert XSS not in text and "&lt;script&gt;" in text
    assert text.count('class="plotly-graph-div"') == 6  # importance is a one-line note: no complete trial
    assert 'id="importance-note"' in text
    assert _board(page)[2] == [0]
    assert '<dd data-field="Best trial"><span class="dim">none yet' in text
    empty = Store(f"sqlite:///{tmp_path / 'none.db'}")
    Study(empty, UPIT_YAML.replace("study: rep", "study: no-trials"))
    assert "no trials yet" in write_report(empty, "no-trials", tmp_path / "n.html").read_text()


def test_non_mask_family_has_no_mask_columns_optimal_columns_or_mask_table(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'conv.db'}")
    st = Study(store, CONV_YAML)
    st.add(0, COMPLETE, [9.0], _results(0, 0, 11.0, 11.5, optimal=False), N=16, activation="relu")
    st.add(1, COMPLETE, [8.0], _results(0, 0, 10.0, 10.5, optimal=False), N=32, activation="sigmoid")
    text, page = _parse(write_report(store, "conv", tmp_path / "c.html"))
    head, board, order = _board(page)
    assert order == [0, 1]
    assert head[:5] == ["Rank", "Trial", "N", "activation", "Params"]  # no Mask column, no Family column
    assert board[0][1][:6] == ["1", "0", "16", "relu", "1.23M", "11.00"]
    assert "opt." not in text.split('id="leaderboard-table"')[1].split("</thead>")[0]
    assert 'class="masks"' not in text and "Kolbaek" not in text and "uPIT-BLSTM (WSJ0" not in text
    sections = [a["id"] for t, a in page.tags if t == "section"]
    links = [a["href"][1:] for t, a in page.tags if t == "a" and a.get("href", "").startswith("#")]
    assert sections == links and "masks" not in sections


def test_cross_family_study_gives_mask_columns_only_to_the_mask_family(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cross.db'}")
    st = Study(store, CROSS_YAML)
    assert st.spec.family == "convtasnet+upit"
    st.add(0, COMPLETE, [6.0], _results(7.0, 7.5, 6.0, 6.5), variant="blstm")
    st.add(1, COMPLETE, [9.0], _results(0, 0, 11.0, 11.5, optimal=False), variant="tcn")
    text, page = _parse(write_report(store, "cross", tmp_path / "x.html"))
    head, board, order = _board(page)
    assert order == [1, 0]
    assert head[:7] == ["Rank", "Trial", "Family", "Mask", "Activation", "variant", "Params"]
    assert board[0][1][2:6] == ["upit", "NPSM", "sigmoid", "blstm"]
    assert board[1][1][2:6] == ["convtasnet", "", "", "tcn"]  # Conv-TasNet's activation is no mask knob
    assert _mask_table(page, "sdri", "convtasnet") == {}
    cell = _mask_table(page, "sdri")[("NPSM", "sigmoid")]
    assert ("num dim", "#0") in cell and [t for c, t in cell if "ours" in c] == ["7.50", "7.00", "6.50", "6.00"]


def test_best_follows_the_objective_direction(tmp_path: Path) -> None:
    """``objective: {metric: train_loss, mode: min}``: the best trial has the lowest train loss,
    though another has the highest validation and test scores."""
    store = Store(f"sqlite:///{tmp_path / 'loss.db'}")
    st = Study(store, UPIT_YAML.replace("study: rep", "study: lossy") + "objective: {metric: train_loss, mode: min}\n")
    st.add(0, COMPLETE, [5.0, 9.0], _results(10, 11, 9, 10), losses=[0.9, 0.8], **_upit("PSM", "relu", 64))
    st.add(1, COMPLETE, [2.0, 3.0], _results(6, 7, 5, 6), losses=[0.5, 0.2], **_upit("PSM", "relu", 128))
    st.add(2, COMPLETE, [4.0, 6.0], _results(8, 9, 7, 8), losses=[0.6, 0.4], **_upit("AM", "relu", 64))
    st.add(3, RUNNING, [1.0], losses=[0.1], **_upit("AM", "tanh", 64))  # lowest, but not complete
    text, page = _parse(write_report(store, "lossy", tmp_path / "l.html"))
    _, board, order = _board(page)
    assert order == [1, 2, 0, 3]
    assert board[1][0].get("data-tie") == "best" and board[1][1][0] == "1" and "0.2" in board[1][1]
    header = text[text.index("<header>"):text.index("</header>")]
    assert "min train loss" in header and '<dd data-field="Best trial">#1 ' in header
    assert ("num dim", "#1") in _mask_table(page, "sdri")[("PSM", "relu")]  # not #0, the valid SI-SNRi best
    thead = text.split('id="leaderboard-table"')[1].split("</thead>")[0]
    assert 'data-epoch-metric="train_loss">train loss<br><span class="dim">objective, min' in thead


def test_stored_objective_text_is_parsed_into_an_objective() -> None:
    from sweep.objective import Objective
    from sweep.report.study import parse_objective

    assert parse_objective("max valid_si_snri") == Objective("valid_si_snri", "max")
    assert parse_objective("train_loss min") == Objective("train_loss", "min")
    assert parse_objective(None) == Objective()
    for bad in ("max", "max min valid_si_snri", "max sdri"):
        with pytest.raises(ValueError):
            parse_objective(bad)


def test_study_whose_stored_spec_no_longer_parses_still_renders(tmp_path: Path) -> None:
    """A family parameter renamed since launch: the page says the stored spec no longer
    validates and takes the parameter columns from the values the trials ran with."""
    store = Store(f"sqlite:///{tmp_path / 'stale.db'}")
    st = Study(store, UPIT_YAML, stored=UPIT_YAML.replace("hidden_size", "hidden_units"))
    st.add(0, COMPLETE, [3.0], _results(8, 9, 7, 8), **_upit("PSM", "relu", 64))
    st.add(1, COMPLETE, [2.0], _results(7, 8, 6, 7), **_upit("AM", "relu", 128))
    text, page = _parse(write_report(store, "rep", tmp_path / "stale.html"))
    assert "This spec no longer validates" in text and "hidden_units" in text
    head, board, order = _board(page)
    assert order == [0, 1] and head[:5] == ["Rank", "Trial", "Mask", "Activation", "hidden_size"]
    assert board[1][1][2:5] == ["AM", "relu", "128"]


def test_cli_report_writes_the_file(study_db: Store, tmp_path: Path, capsys) -> None:
    from sweep.cli import main

    out = tmp_path / "cli" / "r.html"
    assert main(["report", "rep", "-o", str(out), "--storage", study_db.url]) == 0
    assert out.is_file() and capsys.readouterr().out.strip() == str(out)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    # MAP * ~NOTFOUND: every host lookup fails, so the page renders only if it needs no network.
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_plots_render_in_a_real_browser(study_db: Store, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"chromium is not installed at {CHROMIUM}: the browser check needs it")
    page = write_report(study_db, "rep", tmp_path / "rep.html")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    # plotly builds these only when it actually drew the figures.
    assert dom.stdout.count('class="plot-container plotly"') == 7, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 14
    assert "Conv-TasNet-gLN" in dom.stdout and "published (WSJ0-2mix)" in dom.stdout  # scatter labels drawn
    rendered = _Page()
    rendered.feed(dom.stdout)  # what plotly added at run time links nowhere either (no logo link)
    assert _external(rendered) == []
    shot = tmp_path / "rep.png"
    res = _chromium(tmp_path, "--hide-scrollbars", "--window-size=1400,3400", f"--screenshot={shot}", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def _with_utterances(results: list[dict], base: float, spread: list[float]) -> list[dict]:
    """Results whose closed/optimal row carries per-utterance SI-SNRi ``base + spread[i]``."""
    out = []
    for r in results:
        r = dict(r)
        if r["condition"] == "closed" and r["assignment"] == "optimal":
            vals = [base + s for s in spread]
            r["si_snri"] = sum(vals) / len(vals)
            r["utterances"] = [{"name": f"u{i}", "si_snri": v, "sdri": v + 0.5, "sir": 20.0, "sar": 15.0}
                               for i, v in enumerate(vals)]
        out.append(r)
    return out


def test_report_shows_confidence_intervals_ties_and_oracle_rows(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sweep.db'}")
    st = Study(store, UPIT_YAML)
    spread = [-1.0, 0.5, 1.5, -0.5, 0.0, -0.5]  # mean 0, sample sd 0.894
    st.add(0, COMPLETE, [3.0], _with_utterances(_results(8, 9, 7, 8), 8.0, spread), **_upit("PSM", "relu", 64))
    near = [s + (0.1 if i % 2 else -0.15) for i, s in enumerate(spread)]  # 0.025 dB below: a tie
    st.add(1, COMPLETE, [2.0], _with_utterances(_results(8, 9, 7, 8), 8.0, near), **_upit("AM", "relu", 64))
    st.add(2, COMPLETE, [1.0], _with_utterances(_results(5, 6, 4, 5), 5.0, spread), **_upit("NPSM", "relu", 64))
    root = str(tmp_path / f"data{XSS}")  # a folder name is free text too
    store.set_study_data_root(st.id, root)
    store.add_oracle([dict(dataset=root, condition=c, mask=m, n_utterances=10, sample_rate=8000, stft="256/64/256",
                           si_snri=v, si_snri_ci=0.4, sdri=v + 0.5, sdri_ci=0.5, sir=25.0, sar=18.0)
                      for c in ("closed", "open") for m, v in (("IRM", 12.0), ("IBM", 13.0), ("WFM", 13.5),
                                                               ("IPSM", 15.0))])
    text, page = _parse(write_report(store, "rep", tmp_path / "rep.html"))
    assert XSS not in text and "data&lt;script&gt;" in text

    board = {tr["data-trial"]: (tr, cells) for tr, cells in page.table_rows(id="leaderboard-table")
             if "data-trial" in tr}
    # mean ± t_{0.975,5} * sd / sqrt(6) = 2.570582 * 0.894427 / 2.449490 = 0.94 dB
    assert any(text == "8.00 ± 0.94" for _, text in board["0"][1])
    assert board["0"][0].get("data-tie") == "best"  # the best on validation
    assert board["1"][0].get("data-tie") == "tied"
    assert "data-tie" not in board["2"][0]
    assert any("tied" in text for _, text in board["1"][1])
    assert any(text.startswith("worse") for _, text in board["2"][1])

    sdri = page.table_rows(**{"class": "masks", "data-metric": "sdri"})
    oracle = [(tr["data-oracle"], cells) for tr, cells in sdri if "data-oracle" in tr]
    assert [m for m, _ in oracle] == ["IPSM", "IRM", "IBM", "WFM"]  # the lecture's order: IPSM above IRM
    ipsm_cells = [t for c, t in oracle[0][1] if "oracle" in c]
    assert ipsm_cells[0] == "15.50 ± 0.50"
    assert any(t == "14.9" for c, t in oracle[0][1] if "pub" in c)  # the published IPSM number beside ours
    assert any("oracle IPSM" in s for s in page.scripts)  # the reference line on the scatter
