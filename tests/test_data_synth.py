"""The synthetic default corpus: layout, wsj0-2mix mixing rules, determinism, speaker splits."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from sweep.audio import read_wav
from sweep.data import synth
from sweep.data.synth import SPLITS, active_level, make_default_dataset

needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                               reason="needs the Debian packages espeak-ng and flite")
# n_train=16 gives 32 speaker slots, enough to use all 30 seen speakers in tr.
TINY = dict(n_train=16, n_valid=2, n_test=2)
SIZES = {"tr": 16, "cv": 2, "tt_closed": 2, "tt": 2}


def _rows(folder: Path, table: str) -> list[dict[str, str]]:
    with open(folder / table, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None or shutil.which("flite") is None:
        pytest.skip("needs the Debian packages espeak-ng and flite")
    return make_default_dataset(tmp_path_factory.mktemp("a") / "corpus", seed=0, **TINY)


@needs_tts
def test_layout_names_and_manifest(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["sample_rate"] == 8000 and manifest["seed"] == 0
    assert manifest["sizes"] == SIZES
    for split in SPLITS:
        names = {p.name for p in (corpus / split / "mix").glob("*.wav")}
        assert len(names) == SIZES[split]
        for sub in ("s1", "s2"):
            assert {p.name for p in (corpus / split / sub).glob("*.wav")} == names
        assert {r["name"] + ".wav" for r in _rows(corpus / split, "mixtures.csv")} == names
    assert not list(corpus.parent.glob(".corpus.partial*"))  # temp folder renamed away


@needs_tts
def test_mixture_is_sum_of_scaled_sources(corpus: Path) -> None:
    lengths = []
    for split in SPLITS:
        for row in _rows(corpus / split, "mixtures.csv"):
            (mix, sr), (s1, sr1), (s2, sr2) = (read_wav(corpus / split / sub / f"{row['name']}.wav")
                                               for sub in ("mix", "s1", "s2"))
            assert sr == sr1 == sr2 == 8000
            assert mix.shape == s1.shape == s2.shape == (int(row["length"]),)
            assert np.abs(mix - (s1 + s2)).max() <= 1.5 / 32768  # within 16-bit quantisation
            peak = max(np.abs(x).max() for x in (mix, s1, s2))
            assert abs(peak - 0.9) < 2 / 32768  # jointly scaled to the wsj0-2mix 0.9 peak
            assert np.abs(s1).max() > 0.05 and np.abs(s2).max() > 0.05  # both actually speak
            lengths.append(len(mix) / 8000)
    assert 1.0 < min(lengths) and max(lengths) < 6.0  # seconds


@needs_tts
def test_relative_level_within_0_to_5_db(corpus: Path) -> None:
    for split in SPLITS:
        for row in _rows(corpus / split, "mixtures.csv"):
            snr = float(row["snr_db"])
            assert 0.0 <= snr <= 5.0
            s1, _ = read_wav(corpus / split / "s1" / f"{row['name']}.wav")
            s2, _ = read_wav(corpus / split / "s2" / f"{row['name']}.wav")
            # Sources were equal in active level before the gains; cutting to the shorter one
            # moves the measured level a little, hence the tolerance.
            measured = 20 * np.log10(active_level(s1) / active_level(s2))
            assert abs(measured - snr) < 2.0, (row["name"], measured, snr)


@needs_tts
def test_open_speakers_unseen_and_closed_speakers_seen(corpus: Path) -> None:
    spk = {split: {r[c] for r in _rows(corpus / split, "mixtures.csv") for c in ("spk1", "spk2")}
           for split in SPLITS}
    assert not spk["tt"] & (spk["tr"] | spk["cv"] | spk["tt_closed"])
    assert spk["tt_closed"] <= spk["tr"] and spk["cv"] <= spk["tr"]
    speakers = json.loads((corpus / "manifest.json").read_text())["speakers"]
    assert len(speakers) >= 40 and len({tuple(sorted(s.items())) for s in speakers}) == len(speakers)
    unseen = {s["id"] for s in speakers if not s["seen"]}
    assert len(unseen) == round(0.25 * len(speakers)) and spk["tt"] <= unseen


@needs_tts
def test_utterances_and_texts_never_shared_across_splits(corpus: Path) -> None:
    texts: dict[str, set[str]] = {}
    for split in SPLITS:
        utts = _rows(corpus / split, "utterances.csv")
        texts[split] = {u["text"] for u in utts}
        assert len(texts[split]) == len(utts)  # every utterance has its own text
        used = {r[c] for r in _rows(corpus / split, "mixtures.csv") for c in ("utt1", "utt2")}
        assert used <= {u["id"] for u in utts}
        assert all(6 <= len(u["text"].split()) <= 14 for u in utts)
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            assert not texts[a] & texts[b], (a, b)


@needs_tts
def test_same_seed_gives_identical_bytes_other_seed_differs(corpus: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    # one worker instead of two: the bytes must not depend on scheduling either
    again = make_default_dataset(tmp_path / "again", seed=0, progress=lambda *a: calls.append(a),
                                 workers=1, **TINY)
    assert _hashes(again) == _hashes(corpus)
    finals = {stage: (done, total) for stage, done, total in calls}  # last call per stage
    assert list(finals) == [f"{s} {what}" for s in SPLITS for what in ("synthesis", "mixtures")]
    assert all(done == total > 0 for done, total in finals.values())
    other = make_default_dataset(tmp_path / "other", seed=1, **TINY)
    mixes = {k: v for k, v in _hashes(other).items() if "/mix/" in k}
    assert not set(mixes.values()) & set(_hashes(corpus).values())


@needs_tts
def test_cache_hit_is_fast_and_rewrites_nothing(corpus: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in corpus.rglob("*")}
    t = time.perf_counter()
    assert make_default_dataset(corpus, seed=0, **TINY) == corpus
    assert time.perf_counter() - t < 0.2
    assert {p: p.stat().st_mtime_ns for p in corpus.rglob("*")} == before


@needs_tts
def test_other_arguments_rebuild_and_interrupted_build_never_looks_complete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache folder of the harness's own (rebuild=True) holding our corpus with other arguments
    is replaced; an interrupted build leaves the old one intact. (A root the user gives is never
    replaced: tests/test_data_safety.py.)"""
    root = tmp_path / "c"
    make_default_dataset(root, seed=3, n_train=2, n_valid=1, n_test=1)
    real = synth._write_split

    def crash_on_tt(folder: Path, *args, **kwargs):
        if folder.name == "tt":
            raise KeyboardInterrupt
        return real(folder, *args, **kwargs)

    monkeypatch.setattr(synth, "_write_split", crash_on_tt)
    with pytest.raises(KeyboardInterrupt):
        make_default_dataset(root, seed=4, n_train=2, n_valid=1, n_test=1, rebuild=True)
    assert json.loads((root / "manifest.json").read_text())["seed"] == 3  # old corpus intact
    assert (tmp_path / ".c.partial" / ".sweep-building").is_file()  # marked as a partial build of ours
    monkeypatch.setattr(synth, "_write_split", real)
    make_default_dataset(root, seed=4, n_train=2, n_valid=1, n_test=1, rebuild=True)
    assert json.loads((root / "manifest.json").read_text())["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".c.lock") == ["c"]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refusing to overwrite"):
        make_default_dataset(tmp_path / "mine", n_train=2, n_valid=1, n_test=1)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_missing_synthesiser_names_the_debian_package(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which
    monkeypatch.setattr(synth.shutil, "which", lambda exe: None if exe == "flite" else real(exe))
    with pytest.raises(RuntimeError, match="apt-get install flite"):
        make_default_dataset(tmp_path / "x", n_train=2, n_valid=1, n_test=1)
    assert not (tmp_path / "x").exists()


def test_speakers_and_split_follow_the_seed() -> None:
    a, b = synth.make_speakers(0), synth.make_speakers(1)
    assert a == synth.make_speakers(0) and a != b
    assert len({(s.engine, s.voice, s.variant, s.pitch) for s in a}) == len(a)
    seen, unseen = synth.split_voices(a, 0)
    assert len(unseen) == 10 and not {s.id for s in seen} & {s.id for s in unseen}
    assert {s.engine for s in unseen} == {"espeak-ng", "flite"}
    assert {s.gender for s in unseen} == {"F", "M"}


def test_planned_texts_and_pairs_unique_even_from_a_tiny_vocabulary() -> None:
    # With two nouns and one word for every other role, random sentences repeat often:
    # only the planner's bookkeeping keeps every utterance's text distinct across splits.
    words = {role: ["x"] for role in ("determiner", "adjective", "verb", "adverb",
                                      "preposition", "conjunction")}
    words["noun"] = ["cat", "dog"]
    speakers = synth.make_speakers(0)[:6]
    used: set[str] = set()
    texts = []
    for split in SPLITS:
        utterances, mixtures = synth._plan_split(split, 5, speakers, 0, words, used)
        texts += [u["text"] for u in utterances]
        assert len({frozenset((m["utt1"], m["utt2"])) for m in mixtures}) == 5  # no repeats
    assert len(texts) >= 20 and len(set(texts)) == len(texts)


def test_the_random_streams_are_pinned_for_seed_0() -> None:
    """Voices, the unseen split and every split's plan (pairs, utterance ids, texts, levels) of
    seed 0, as the corpus has always had them: no synthesiser involved, so this pins the random
    streams (constants.Stream) on any machine. A change here changes every corpus: bump VERSION."""
    voices = synth.make_speakers(0)
    seen, unseen = synth.split_voices(voices, 0)
    words, used = synth.load_words(), set()
    plans = {s: synth._plan_split(s, n, unseen if s == "tt" else seen, 0, words, used)
             for s, n in zip(SPLITS, (16, 2, 2, 2))}
    text = json.dumps([[v.__dict__ for v in voices], [v.id for v in unseen], plans], sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "bd559fc0143055460299a1eb6ee3f8d353caca7d55475874bec1fe6bdc762eff"
