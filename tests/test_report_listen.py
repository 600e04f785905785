"""The report's best-trial recipe, kept checkpoints and *Listen* players.

Studies are written without training (tests/test_report.py's :class:`Study`), on the real
``tiny_data`` corpus; kept checkpoints are real small models (tests/report_checkpoints.py), so
the page loads and runs them as it would trained ones.
"""

from __future__ import annotations

import base64
import io
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from sweep.data.wsj0mix import Wsj0MixDataset, test_conditions
from sweep.report.clips import embedded_bytes
from sweep.report.page import write_report
from sweep.scoring.metrics import si_snr
from sweep.spec import parse_spec
from sweep.spec_nodes import SpecError
from sweep.spec_report import ReportSpec
from sweep.store import COMPLETE, Store
from tests.conftest import tiny_spec
from tests.report_checkpoints import BEST_EPOCH, LAST_EPOCH, keep, kept_model
from tests.test_report import CROSS_YAML, Study, _external, _parse

CLIP = re.compile(r'<table class="clip" data-trial="(\d+)" data-condition="(\w+)" data-utterance="([^"]+)" '
                  r'data-si-snri="([-\d.]+)">(.*?)</table>', re.S)
AUDIO = re.compile(r'<audio [^>]*src="data:audio/wav;base64,([A-Za-z0-9+/=]+)"')


def _study(tmp_path: Path, data: Path, report: str = "") -> tuple[Store, Study]:
    """Two complete uPIT trials on ``data`` (trial 1 best on validation), no checkpoint yet."""
    store = Store(f"sqlite:///{tmp_path / 'sweep.db'}")
    st = Study(store, tiny_spec(data) + report)
    store.set_study_data_root(st.id, str(data))
    st.add(0, COMPLETE, [1.0, 2.0], mask_type="AM")
    st.add(1, COMPLETE, [1.0, 3.0], mask_type="PSM")
    return store, st


def _listen(path: Path) -> str:
    return re.search(r'<section id="listen">(.*?)</section>', path.read_text(encoding="utf-8"), re.S).group(1)


def _clips(section: str) -> list[dict]:
    """Every clip table: trial, condition, utterance, SI-SNRi, per-source SI-SNRi and decoded players."""
    out = []
    for trial, cond, name, si, body in CLIP.findall(section):
        players = [_decode(b) for b in AUDIO.findall(body)]
        per_source = [float(x) for x in re.findall(r'<td class="num" data-si-snri="([-\d.]+)"', body)]
        out.append(dict(trial=int(trial), condition=cond, name=name, si_snri=float(si), sources=per_source,
                        mixture=players[0], estimates=players[1::2], references=players[2::2],
                        b64=sum(len(b) for b in AUDIO.findall(body))))
    return out


def _decode(b64: str) -> np.ndarray:
    """A 16-bit mono 8 kHz WAV's samples as floats; asserts that format."""
    with wave.open(io.BytesIO(base64.b64decode(b64))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0


def _first(data: Path, n: int) -> list[tuple[str, str]]:
    """(condition, name) of the first ``n`` test utterances per condition, closed first."""
    conds = test_conditions(data)
    return [(c, Wsj0MixDataset(conds[c]).names[i]) for c in ("closed", "open") for i in range(n)]


def test_listen_plays_the_best_trials_first_utterances_each_estimate_beside_its_reference(tmp_path, tiny_data):
    store, st = _study(tmp_path, tiny_data)
    keep(store, st.id, 1, kept_model(tmp_path / "ckpt1"))
    keep(store, st.id, 0, kept_model(tmp_path / "ckpt0", seed=1))  # kept, but not the best: no players
    clips = _clips(_listen(write_report(store, "tiny", tmp_path / "r.html")))
    assert [(c["condition"], c["name"]) for c in clips] == _first(tiny_data, 2)  # ReportSpec's default: 2
    assert {c["trial"] for c in clips} == {1}
    conds = test_conditions(tiny_data)
    for c in clips:
        ds = Wsj0MixDataset(conds[c["condition"]])
        mix, refs, _ = ds[ds.names.index(c["name"])]
        assert np.array_equal(c["mixture"], mix.numpy()) and len(c["estimates"]) == len(c["references"]) == 2
        assert all(np.array_equal(p, r) for p, r in zip(c["references"], refs.numpy()))  # the files, bit for bit
        est, ref = np.stack(c["estimates"]), np.stack(c["references"])
        kept = si_snr(est, ref) - si_snr(np.stack([c["mixture"]] * 2), ref)
        assert kept == pytest.approx(c["sources"], abs=0.02)  # each number is its row's estimate vs reference
        assert np.mean(c["sources"]) == pytest.approx(c["si_snri"], abs=1e-3)
        swapped = si_snr(est[::-1], ref)
        assert si_snr(est, ref).sum() >= swapped.sum() - 1e-3  # the better of the two orders


def test_the_number_beside_a_clip_is_the_trials_test_score_of_that_utterance(tmp_path, tiny_data):
    import torch

    from sweep.checkpoints import load_separator
    from sweep.scoring.evaluate import evaluate

    store, st = _study(tmp_path, tiny_data, "report: {audio_utterances: 1}\n")
    uri = kept_model(tmp_path / "ckpt")
    keep(store, st.id, 1, uri)
    clips = _clips(_listen(write_report(store, "tiny", tmp_path / "r.html")))
    rows = evaluate(load_separator(uri)[0], test_conditions(tiny_data), 2, 8000, torch.device("cpu"), 1)
    scored = {(r["condition"], u["name"]): u["si_snri"] for r in rows if r["assignment"] == "default"
              for u in r["utterances"]}
    assert {(c["condition"], c["name"]): pytest.approx(c["si_snri"], abs=1e-4) for c in clips} == scored


def test_a_cap_that_fits_fewer_clips_drops_the_later_rounds_and_says_so(tmp_path, tiny_data):
    conds = test_conditions(tiny_data)
    size = {(c, i): 5 * embedded_bytes(len(Wsj0MixDataset(conds[c])[i][0])) for c in conds for i in range(2)}
    cap = size["closed", 0] + size["open", 0] + size["closed", 1] // 2  # round 1 fits, round 2 does not
    store, st = _study(tmp_path, tiny_data, f"report: {{audio_max_mb: {cap / 1e6}}}\n")
    keep(store, st.id, 1, kept_model(tmp_path / "ckpt"))
    section = _listen(write_report(store, "tiny", tmp_path / "r.html"))
    clips = _clips(section)
    assert [(c["condition"], c["name"]) for c in clips] == [_first(tiny_data, 2)[i] for i in (0, 2)]
    assert sum(c["b64"] for c in clips) == size["closed", 0] + size["open", 0] <= cap
    dropped = (size["closed", 1] + size["open", 1]) / 1e6
    assert re.search(rf'id="listen-cap">2 clip\(s\) left out \({dropped:.2f} MB more\) to stay under '
                     rf"report.audio_max_mb = {cap / 1e6:g} MB", section)
    (tmp_path / "all").mkdir()
    store2, st2 = _study(tmp_path / "all", tiny_data)
    keep(store2, st2.id, 1, kept_model(tmp_path / "ckpt"))
    assert "listen-cap" not in _listen(write_report(store2, "tiny", tmp_path / "all.html"))  # 5 MB fits all 4


@pytest.mark.parametrize("case, line", [
    ("no checkpoint", "Trial #1 (best) has no kept checkpoint, so there is nothing to play."),
    ("corpus gone", "The corpus folder this study used, {gone}, is gone, so there is nothing to play."),
    ("checkpoint gone", "Trial #1&#x27;s checkpoint at {ckpt} did not load or run (FileNotFoundError: no "
                        "checkpoint at {ckpt}"),
    ("players off", "No players: the spec sets <code>report.audio_utterances: 0</code>."),
])
def test_listen_says_why_there_is_nothing_to_play_in_one_line(tmp_path, tiny_data, case, line):
    store, st = _study(tmp_path, tiny_data, "report: {audio_utterances: 0}\n" if case == "players off" else "")
    gone, ckpt = tmp_path / "moved" / "tiny", tmp_path / "ckpt"
    if case != "no checkpoint":
        keep(store, st.id, 1, kept_model(ckpt))
    if case == "corpus gone":
        store.set_study_data_root(st.id, str(gone))
    if case == "checkpoint gone":
        for f in ckpt.iterdir():
            f.unlink()
        ckpt.rmdir()
    section = _listen(write_report(store, "tiny", tmp_path / "r.html"))
    assert "<audio" not in section
    notes = re.findall(r'<p class="note[^"]*"[^>]*>(.*?)</p>', section)
    assert len(notes) <= 1 and line.format(gone=gone, ckpt=ckpt) in section


def test_a_model_that_fails_while_separating_gets_its_line_and_the_page_still_renders(tmp_path, tiny_data,
                                                                                      monkeypatch):
    from sweep.report import listen

    def out_of_memory(model, utt):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore text")

    monkeypatch.setattr(listen, "separate", out_of_memory)
    store, st = _study(tmp_path, tiny_data)
    keep(store, st.id, 1, kept_model(tmp_path / "ckpt"))
    section = _listen(write_report(store, "tiny", tmp_path / "r.html"))
    assert "<audio" not in section and "0 clip(s), 0.00 MB" in section
    assert (f"Trial #1&#x27;s checkpoint at {tmp_path / 'ckpt'} did not load or run (RuntimeError: CUDA out of "
            "memory. Tried to allocate 2.00 GiB), so there is nothing to play.") in section


def test_kept_checkpoints_are_linked_with_size_and_epochs(tmp_path, tiny_data):
    store, st = _study(tmp_path, tiny_data, "report: {audio_utterances: 0}\n")
    uri = kept_model(tmp_path / "runs" / "trial_1" / "checkpoint_000002")
    keep(store, st.id, 1, uri)
    keep(store, st.id, 0, "s3://bucket/runs/trial_0/checkpoint_000001")
    text, page = _parse(write_report(store, "tiny", tmp_path / "r.html"))
    rows = {int(tr["data-trial"]): [t for _, t in cells] for tr, cells in page.table_rows(id="checkpoints-table")
            if "data-trial" in tr}
    mb = f"{Path(uri, 'best.pt').stat().st_size / 1e6 + Path(uri, 'card.json').stat().st_size / 1e6:.2f}"
    assert rows == {1: ["#1", "complete", "3.00 dB", uri, mb, str(BEST_EPOCH), str(LAST_EPOCH)],
                    0: ["#0", "complete", "2.00 dB", "s3://bucket/runs/trial_0/checkpoint_000001", "123.46",
                        str(BEST_EPOCH), str(LAST_EPOCH)]}
    links = [a["href"] for t, a in page.tags if t == "a" and a.get("href", "").startswith("file:")]
    assert links == [Path(uri).as_uri()]  # the local one is a link, the remote one text only
    assert _external(page) == [] and "s3://" not in "".join(a.get("href", "") for _, a in page.tags)
    store.update_trial(st.id, 0, checkpoint_uri=None, checkpoint_bytes=None)
    store.update_trial(st.id, 1, checkpoint_uri=None, checkpoint_bytes=None)
    text, _ = _parse(write_report(store, "tiny", tmp_path / "none.html"))
    assert ('id="checkpoints-note">No trial has a kept checkpoint (the spec keeps <code>best</code>, top 3).'
            in text)


RECIPE_YAML = """study: recipe
family: upit
sampler: random
n_trials: 3
params: {mask_type: PSM, activation: sigmoid, hidden_size: 32, num_layers: 1}
train:
  epochs: 6
  batch_size: 8
  segment_s: 1.5
  lr: {log_float: [1.0e-4, 1.0e-2]}
  optimizer: adamw
  weight_decay: 0.01
  schedule: plateau
  lr_factor: 0.5
  lr_patience: 2
  plateau_start_epoch: 3
  min_lr: 1.0e-6
  grad_clip: 1.0
  early_stop_patience: 4
"""


def test_the_best_trials_recipe_is_its_resolved_training_values(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sweep.db'}")
    st = Study(store, RECIPE_YAML)
    st.add(0, COMPLETE, [1.0, 2.0], **{"train.lr": 4e-4})
    st.add(1, COMPLETE, [1.0, 5.0, 4.0], **{"train.lr": 2.5e-3})  # the best: its lr, not the others'
    store.update_trial(st.id, 1, best_epoch=2, epochs_done=3)
    text, _ = _parse(write_report(store, "recipe", tmp_path / "r.html"))
    recipe = dict(re.findall(r'<dd data-recipe="(\w+)">(.*?)</dd>', text))
    assert recipe["lr"] == '0.0025 <span class="dim">(searched)</span>'
    assert recipe["optimizer"] == "adamw, weight decay 0.01"
    assert recipe["schedule"] == ("plateau: × 0.5 after 2 epochs in a row without a validation gain, counted "
                                  "after epoch 3, floor 1e-06")
    assert recipe["epochs"] == "6 planned, 3 run; the tested weights are epoch 2&#x27;s"
    assert recipe["batch_size"] == "8 segments of 1.5 s"
    assert recipe["grad_clip"] == "L2 norm 1"
    assert recipe["early_stop_patience"] == "after 4 epochs in a row without a validation gain"
    assert recipe["model"].startswith("upit, 1.23M parameters")
    assert "hidden_size=32" in recipe["model"] and 'data-field="Best trial">#1 ' in text


def test_a_study_of_several_families_plays_its_pareto_trials_too(tmp_path, tiny_data):
    store = Store(f"sqlite:///{tmp_path / 'sweep.db'}")
    st = Study(store, CROSS_YAML.replace("sampler: grid", "sampler: random\nn_trials: 3"))
    store.set_study_data_root(st.id, str(tiny_data))
    st.add(0, COMPLETE, [4.0], variant="tcn")  # the best
    st.add(1, COMPLETE, [3.0], variant="blstm")  # smaller: on the front
    st.add(2, COMPLETE, [2.0], variant="tcn")  # larger and worse than 1: dominated
    for number, size in ((0, 900_000), (1, 100_000), (2, 950_000)):
        store.update_trial(st.id, number, param_count=size)
        keep(store, st.id, number, kept_model(tmp_path / f"ckpt{number}", seed=number))
    section = _listen(write_report(store, "cross", tmp_path / "r.html"))
    assert re.findall(r"<h3>Trial #(\d+) \(([\w ]+)\)", section) == [("0", "best"), ("1", "Pareto front")]
    assert [c["trial"] for c in _clips(section)] == [0, 0, 0, 0, 1, 1, 1, 1]  # 2 per condition each


def test_the_report_section_of_a_spec_and_of_a_budget(tiny_data):
    base = tiny_spec(tiny_data)
    assert parse_spec(base).report == ReportSpec(2, 5.0)
    budgets = "report: {audio_utterances: 1}\nbudgets:\n  cpu: {}\n  big: {report: {audio_max_mb: 20}}\n"
    assert parse_spec(base + budgets).report == ReportSpec(1, 5.0)
    assert parse_spec(base + budgets, budget="big").report == ReportSpec(1, 20.0)  # merged, key by key
    for bad, message in (("report: {audio_utterances: 21}", r"report.audio_utterances: must be in \[0, 20\]"),
                         ("report: {audio_max_mb: 0}", "report.audio_max_mb: must be > 0"),
                         ("report: {audio_max_mb: 500}", "report.audio_max_mb: must be at most 200"),
                         ("report: {audio: 1}", "report.audio: unknown key")):
        with pytest.raises(SpecError, match=rf":{len(base.splitlines()) + 1}: {message}"):
            parse_spec(base + bad + "\n")
