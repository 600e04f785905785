"""The report and the compare page in real headless Chromium: every section and figure drawn, no
console error, and a 1400 px window without sideways scrolling.

Chromium opens a copy of each page with a probe script put first in its ``<head>``: it records
uncaught errors and ``console.error`` calls from then on, and after the page has loaded writes
what it measured into the DOM, which ``--dump-dom`` hands back. The page itself carries no test
code. The probe waits for every ``<audio>`` player to load its metadata (or fail) first, so a
player that Chromium cannot decode shows up as an error or a zero duration.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from sweep.report.compare import write_compare
from sweep.report.figures import FRONT_LABEL
from sweep.report.page import write_report
from sweep.store import Store
from tests.report_checkpoints import keep, kept_model
from tests.report_studies import paper_study, rich_study
from tests.test_report import CHROMIUM, _chromium

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                reason=f"chromium is not installed at {CHROMIUM}: the browser checks need it")

WINDOW = 1400
PROBE = """<script>
window.__errors = [];
addEventListener('error', e => __errors.push('uncaught: ' + e.message));
addEventListener('unhandledrejection', e => __errors.push('unhandled rejection: ' + e.reason));
const __consoleError = console.error.bind(console);
console.error = (...a) => { __errors.push('console.error: ' + a.join(' ')); __consoleError(...a); };
const __audio = () => Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {
  const out = () => done({section: a.closest('section').id, label: a.getAttribute('aria-label'),
                          duration: a.duration, error: a.error ? a.error.code : null});
  if (a.readyState >= 1 || a.error) return out();
  a.addEventListener('loadedmetadata', out);
  a.addEventListener('error', out);
  setTimeout(out, 5000);
})));
addEventListener('load', () => setTimeout(async () => {
  const audio = await __audio();
  const texts = el => [...el.querySelectorAll('text')].map(t => t.textContent.trim()).filter(Boolean);
  const sections = {};
  for (const s of document.querySelectorAll('section')) {
    const plots = [...s.querySelectorAll('.js-plotly-plot')];
    sections[s.id] = {plots: plots.length, drawn: plots.filter(p => p.querySelector('.main-svg')).length,
                      texts: plots.flatMap(texts)};
  }
  const out = {errors: __errors, sections, audio,
    page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
    overflowing: [...document.querySelectorAll('.scroll, section, .grid2 > div')]
      .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => (e.id || e.className) + ' ' + e.scrollWidth),
    details: [...document.querySelectorAll('details')].map(d => d.open),
    nav: getComputedStyle(document.querySelector('nav')).position,
    links: [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))};
  const pre = document.createElement('pre');
  pre.id = '__probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 500));
</script>"""


def _probe(page: Path, tmp_path: Path) -> dict:
    """Open a probed copy of ``page`` in a WINDOW-wide headless Chromium; what the probe measured."""
    probed = page.with_name(f"probed-{page.name}")
    probed.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    res = _chromium(tmp_path, "--hide-scrollbars", f"--window-size={WINDOW},900", "--dump-dom", probed.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'<pre id="__probe">(.*?)</pre>', res.stdout, re.S)
    assert found, "the probe did not run: " + res.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture(scope="module")
def pages(tmp_path_factory, tiny_data) -> tuple[Path, Path, Path]:
    """The rich study (its best trial, 1, with a kept checkpoint, on the tiny corpus) and a compare page."""
    folder = tmp_path_factory.mktemp("browser")
    store = Store(f"sqlite:///{folder / 'sweep.db'}")
    st = rich_study(store)
    store.set_study_data_root(st.id, str(tiny_data))
    keep(store, st.id, 1, kept_model(folder / "ckpt"))
    paper_study(store)
    read = Store(store.url, write=False)
    return (write_report(read, "rich", folder / "rich.html"),
            write_compare(read, ["rich", "rich-paper"], folder / "compare.html"), folder)


def _no_overflow(seen: dict) -> None:
    width, client = seen["page"]
    assert width <= WINDOW and client == WINDOW, seen["page"]  # no sideways scrolling of the page
    assert seen["overflowing"] == []  # nor inside it: every table fits its box


def test_every_report_section_and_figure_draws_without_errors_in_1400_px(pages):
    report, _, folder = pages
    seen = _probe(report, folder)
    assert seen["errors"] == []
    sections = seen["sections"]
    assert list(sections) == ["leaderboard", "params", "masks", "contrasts", "winner", "listen", "search",
                              "unfinished", "curves", "spec"]
    assert seen["links"] == [f"#{s}" for s in sections] and seen["nav"] == "sticky"
    plots = {name: (s["plots"], s["drawn"]) for name, s in sections.items() if s["plots"]}
    assert plots == {"params": (1, 1), "search": (5, 5), "curves": (1, 1)}
    texts = {name: set(s["texts"]) for name, s in sections.items()}
    assert {FRONT_LABEL, "published (WSJ0-2mix)", "Conv-TasNet-gLN / ConvTasnet"} <= texts["params"]
    assert {"Best Value", "best so far", "wall-clock time since the first trial started (minutes)", "train.lr",
            "Hyperparameter Importance", "COMPLETE", "FAIL", "PRUNED", "RUNNING"} <= texts["search"]
    assert "#1 AM/softmax" in texts["curves"]
    _no_overflow(seen)
    # the recipe's model hyperparameters, the failure's traceback and the spec start collapsed
    assert seen["details"] == [False, False, False]


def test_every_audio_player_loads_and_has_the_length_of_its_utterance(pages, tiny_data):
    from sweep.data.wsj0mix import Wsj0MixDataset, test_conditions

    report, _, folder = pages
    seen = _probe(report, folder)
    assert seen["errors"] == []
    audio = seen["audio"]
    # the best trial's first 2 utterances per condition, each: mixture, then estimate and reference per source
    assert len(audio) == 2 * 2 * 5 and {a["section"] for a in audio} == {"listen"}
    assert [a["label"] for a in audio[1:5]] == ["estimate 1", "reference 1", "estimate 2", "reference 2"]
    assert all(a["error"] is None and a["duration"] > 0 for a in audio), audio
    conds = test_conditions(tiny_data)
    lengths = [len(Wsj0MixDataset(conds[c])[i][0]) / 8000 for c in ("closed", "open") for i in range(2)]
    assert [a["duration"] for a in audio] == pytest.approx([s for s in lengths for _ in range(5)], abs=1e-3)


def test_the_compare_page_draws_without_errors_in_1400_px(pages):
    _, compare, folder = pages
    seen = _probe(compare, folder)
    assert seen["errors"] == []
    assert {name: (s["plots"], s["drawn"]) for name, s in seen["sections"].items()} == {
        "studies": (0, 0), "aligned": (0, 0), "history": (1, 1), "sizes": (1, 1)}
    assert {"Best Value of rich", "Best Value of rich-paper"} <= set(seen["sections"]["history"]["texts"])
    assert {"rich", "rich-paper"} <= set(seen["sections"]["sizes"]["texts"])
    _no_overflow(seen)
