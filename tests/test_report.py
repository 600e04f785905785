"""``sweep report``: the HTML page of one study, checked as a file and in a real (headless) browser."""

from __future__ import annotations

import shutil
import subprocess
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sweep.report import write_report
from sweep.store import COMPLETE, FAILED, PRUNED, Store

CHROMIUM = "/usr/bin/chromium"
SPEC_YAML = """study: rep
family: upit
params:
  mask: {choice: [AM, PSM, NPSM]}
  activation: {choice: [softmax, sigmoid, relu, tanh]}
  hidden_size: {choice: [64, 128]}
  num_layers: 2
train:
  epochs: 3
"""
XSS = "<script>alert('pwned')</script>"


def _spec(n_trials: int = 8, family: str = "upit") -> types.SimpleNamespace:
    return types.SimpleNamespace(family=family, path="search_spaces/rep.yaml", text=SPEC_YAML, sampler="grid",
                                 scheduler="none", n_trials=n_trials, seed=0,
                                 dataset=types.SimpleNamespace(kind="default", seed=0, n_train=20),
                                 objective_mode="max", objective_metric="valid_si_snri")


def _results(si_opt: float, sdri_opt: float, si_def: float, sdri_def: float) -> list[dict]:
    """Closed and open rows; open scores are the closed ones minus 0.5 dB so the columns differ."""
    out = []
    for cond, d in (("closed", 0.0), ("open", 0.5)):
        out.append(dict(condition=cond, assignment="optimal", si_snri=si_opt - d, sdri=sdri_opt - d, n_utterances=10))
        out.append(dict(condition=cond, assignment="default", si_snri=si_def - d, sdri=sdri_def - d, n_utterances=10))
    return out


def _add(store: Store, sid: int, number: int, mask: str, act: str, hidden: int, status: str,
         valid: list[float], results: list[dict] | None = None, error: str | None = None,
         family: str = "upit") -> None:
    store.trial_queued(sid, number, family, {"mask": mask, "activation": act, "hidden_size": hidden,
                                             "num_layers": 2, "train.epochs": 3}, seed=0)
    for epoch, v in enumerate(valid, 1):
        store.add_epoch(sid, number, epoch, 1.0 / epoch, v, 10.0 * epoch)
    if results:
        store.add_results(sid, number, results)
    store.update_trial(sid, number, status=status, error=error, param_count=1_234_567 + number,
                       wall_s=65.0 + number, train_s=50.0, eval_s=5.0, device="cpu")


@pytest.fixture
def study_db(tmp_path: Path) -> Store:
    """A uPIT study in progress: five complete trials (three share PSM/relu), failed, pruned and running ones."""
    store = Store(f"sqlite:///{tmp_path / 'sweep.db'}")
    sid = store.ensure_study("rep", _spec(9)).id
    # Three PSM/relu trials; the uPIT table must show trial 0, the best on validation, though it is
    # neither the first nor the last stored, nor the best on the test set (trial 3).
    _add(store, sid, 3, "PSM", "relu", 64, COMPLETE, [1.0, 2.0, 2.5], _results(8.0, 9.0, 7.0, 8.0))
    _add(store, sid, 0, "PSM", "relu", 128, COMPLETE, [2.0, 4.0, 5.5], _results(7.25, 8.5, 6.75, 7.5))
    _add(store, sid, 7, "PSM", "relu", 64, COMPLETE, [0.5, 1.0], _results(2.0, 2.5, 1.5, 2.0))
    _add(store, sid, 1, "AM", "softmax", 64, COMPLETE, [3.0, 6.0, 8.0], _results(9.75, 10.25, 9.0, 9.5))
    _add(store, sid, 2, "NPSM", "tanh", 64, COMPLETE, [1.0, 2.0, 3.0], _results(3.25, 4.5, 3.0, 4.0))
    _add(store, sid, 4, "AM", "tanh", 64, FAILED, [1.0],
         error=f"Traceback (most recent call last):\n  File x\nRuntimeError: exploded {XSS}\n")
    _add(store, sid, 5, "AM", "relu", 128, PRUNED, [0.5])
    _add(store, sid, 6, "NPSM", "relu", 128, "running", [4.5])
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
    assert text.count('class="plotly-graph-div"') == 2  # scatter and curves
    # The failed trial's error: shown (last line), escaped, never as markup.
    assert XSS not in text and not any("alert(" in s for s in page.scripts if s not in bundles)
    assert "RuntimeError: exploded &lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in text
    assert "Traceback" not in text  # only the error's last line goes in the table
    # Header: name, family, sampler and counts.
    header = text[text.index("<header>"):text.index("</header>")]
    for needle in ("rep", "upit", "grid", "<b>9</b> planned", "<b>5</b> finished", "<b>1</b> failed",
                   "<b>1</b> pruned", "Code version", "Generated"):
        assert needle in header, needle


def test_upit_table_has_published_and_our_numbers(study_db: Store, tmp_path: Path) -> None:
    _, page = _parse(write_report(study_db, "rep", tmp_path / "rep.html"))
    sdri = {(tr["data-mask"], tr["data-activation"]): cells for tr, cells in page.table_rows(**{"data-metric": "sdri"})
            if "data-mask" in tr}
    assert len(sdri) == 12 and list(sdri)[:4] == [("AM", a) for a in ("softmax", "sigmoid", "relu", "tanh")]
    psm_relu = sdri[("PSM", "relu")]
    assert [t for c, t in psm_relu if "pub" in c] == ["10.9", "10.8", "9.4", "9.4"]
    assert [t for c, t in sdri[("AM", "softmax")] if "pub" in c] == ["10.4", "10.3", "9.0", "8.7"]
    # Ours: trial 0 (best validation of the two PSM/relu trials), SDRi opt CC/OC, def CC/OC.
    assert [t for c, t in psm_relu if "ours" in c] == ["8.50", "8.00", "7.50", "7.00"]
    assert ("num dim", "#0") in psm_relu
    assert [t for c, t in sdri[("AM", "sigmoid")] if "ours" in c] == ["", "", "", ""]  # no trial: blank
    si = {(tr["data-mask"], tr["data-activation"]): cells
          for tr, cells in page.table_rows(**{"data-metric": "si_snri"}) if "data-mask" in tr}
    assert [t for c, t in si[("AM", "softmax")] if "ours" in c] == ["9.75", "9.25", "9.00", "8.50"]
    assert not any("pub" in c for cells in si.values() for c, _ in cells)  # the paper has no SI-SNRi


def test_leaderboard_sorted_by_closed_si_snri_incomplete_last(study_db: Store, tmp_path: Path) -> None:
    text, page = _parse(write_report(study_db, "rep", tmp_path / "rep.html"))
    rows = [(tr, cells) for tr, cells in page.table_rows(id="leaderboard-table") if "data-trial" in tr]
    assert [int(tr["data-trial"]) for tr, _ in rows] == [1, 3, 0, 2, 7, 6, 5, 4]
    texts = {int(tr["data-trial"]): [t for _, t in cells] for tr, cells in rows}
    assert texts[1][:8] == ["1", "1", "upit", "AM", "softmax", "64", "1.23M", "9.75"]  # hidden_size was searched
    assert texts[4][0] == "" and texts[7][0] == "5"  # only complete trials are ranked
    assert "1m 05s" in texts[0] and "1.23M" in texts[0]
    assert "num_layers" not in text.split('id="leaderboard-table"')[1].split("</thead>")[0]  # fixed: no column


def test_study_without_complete_trials_still_renders(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    sid = store.ensure_study("nothing-yet", _spec(3)).id
    _add(store, sid, 0, "AM", "relu", 64, FAILED, [], error=XSS)
    text, page = _parse(write_report(store, "nothing-yet", tmp_path / "e.html"))
    assert "No trial of this study has completed yet" in text
    assert XSS not in text and "&lt;script&gt;" in text
    assert text.count('class="plotly-graph-div"') == 2
    assert [tr["data-trial"] for tr, _ in page.table_rows(id="leaderboard-table") if "data-trial" in tr] == ["0"]
    empty = Store(f"sqlite:///{tmp_path / 'none.db'}")
    empty.ensure_study("no-trials", _spec(3))
    assert "no trials yet" in write_report(empty, "no-trials", tmp_path / "n.html").read_text()


def test_non_mask_family_has_no_optimal_columns_and_no_upit_table(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'conv.db'}")
    sid = store.ensure_study("conv", _spec(2, family="convtasnet")).id
    rows = [r for r in _results(0, 0, 11.0, 11.5) if r["assignment"] == "default"]
    _add(store, sid, 0, "-", "-", 64, COMPLETE, [9.0], rows, family="convtasnet")
    text, page = _parse(write_report(store, "conv", tmp_path / "c.html"))
    assert "opt." not in text.split('id="leaderboard-table"')[1].split("</thead>")[0]
    assert "11.00" in [t for tr, cells in page.table_rows(id="leaderboard-table") for _, t in cells]
    assert 'data-metric="sdri"' not in text and "Kolbaek" not in text


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
    assert dom.stdout.count('class="plot-container plotly"') == 2, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= 4
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
    sid = store.ensure_study("rep", _spec(3)).id
    spread = [-1.0, 0.5, 1.5, -0.5, 0.0, -0.5]  # mean 0, sample sd 0.894
    _add(store, sid, 0, "PSM", "relu", 64, COMPLETE, [3.0], _with_utterances(_results(8, 9, 7, 8), 8.0, spread))
    near = [s + (0.1 if i % 2 else -0.15) for i, s in enumerate(spread)]  # 0.025 dB below: a tie
    _add(store, sid, 1, "AM", "relu", 64, COMPLETE, [2.0], _with_utterances(_results(8, 9, 7, 8), 8.0, near))
    _add(store, sid, 2, "NPSM", "relu", 64, COMPLETE, [1.0], _with_utterances(_results(5, 6, 4, 5), 5.0, spread))
    root = str(tmp_path / "data")
    store.set_study_data_root(sid, root)
    store.add_oracle([dict(dataset=root, condition=c, mask=m, n_utterances=10, sample_rate=8000, stft="256/64/256",
                           si_snri=v, si_snri_ci=0.4, sdri=v + 0.5, sdri_ci=0.5, sir=25.0, sar=18.0)
                      for c in ("closed", "open") for m, v in (("IRM", 12.0), ("IBM", 13.0), ("WFM", 13.5),
                                                               ("IPSM", 15.0))])
    _, page = _parse(write_report(store, "rep", tmp_path / "rep.html"))

    board = {tr["data-trial"]: (tr, cells) for tr, cells in page.table_rows(id="leaderboard-table")
             if "data-trial" in tr}
    # mean ± t_{0.975,5} * sd / sqrt(6) = 2.570582 * 0.894427 / 2.449490 = 0.94 dB
    assert any(text == "8.00 ± 0.94" for _, text in board["0"][1])
    assert board["0"][0].get("data-tie") == "best"
    assert board["1"][0].get("data-tie") == "tied"
    assert "data-tie" not in board["2"][0]
    assert any("tied" in text for _, text in board["1"][1])

    sdri = page.table_rows(**{"class": "upit", "data-metric": "sdri"})
    oracle = [(tr["data-oracle"], cells) for tr, cells in sdri if "data-oracle" in tr]
    assert [m for m, _ in oracle] == ["IPSM", "IRM", "IBM", "WFM"]  # the lecture's order: IPSM above IRM
    ipsm_cells = [t for c, t in oracle[0][1] if "oracle" in c]
    assert ipsm_cells[0] == "15.50 ± 0.50"
    assert any(t == "14.9" for c, t in oracle[0][1] if "pub" in c)  # the published IPSM number beside ours
    assert any("oracle IPSM" in s for s in page.scripts)  # the reference line on the scatter
