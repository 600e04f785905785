"""Nothing a user points at is deleted, overwritten or walked without end: a root holding another
corpus, a file, a system folder or a folder of something else, and an ``n_src`` the corpus lacks,
are refused before anything is written (DataError: one line starting with the path; exit 2)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sweep.cli import main
from sweep.data import speakers, synth
from sweep.data.cache import data_root_for, default_corpus_dir
from sweep.data.check import DataError, check_dataset
from sweep.data.prepare import cached_root, fill_records
from sweep.spec import DatasetSpec, parse_spec
from tests.data_corpora import noise_utterances, study, write_librimix, write_speakers, write_wsj0mix

ROOT = Path(__file__).resolve().parent.parent
needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                               reason="needs the Debian packages espeak-ng and flite")
SMALL = dict(n_train=2, n_valid=1, n_test=1)  # a corpus in about a second
BUILDING = ".sweep-building"  # sweep.data.cache.BUILDING, spelled out: the mark is part of the on-disk format


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$SWEEP_DATA`` of each test: a refused dataset must leave it unborn."""
    monkeypatch.setenv("SWEEP_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) by path: its sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def refused(tmp_path: Path, capsys, data_line: str, n_src: int = 2) -> str:
    """``sweep data check`` on a study with ``data_line``: exit 2 and one line; that line, without "sweep: "."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(study(data_line, n_src=n_src))
    capsys.readouterr()
    assert main(["data", "check", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("sweep: "), err
    return err[len("sweep: "):]


# ----------------------------------------------------------------------------- 1. another corpus at root


@needs_tts
def test_a_root_holding_another_corpus_is_refused_and_left_byte_identical(tmp_path, cache, capsys):
    corpus = synth.make_default_dataset(tmp_path / "c", seed=0, n_train=4, n_valid=1, n_test=1)
    before, listing = tree(corpus), sorted(os.listdir(tmp_path))
    asks = "{kind: default, root: %s, n_train: 2, n_valid: 1, n_test: 1}" % corpus
    spec = parse_spec(study(asks), "s.yaml")
    message = rf"^{re.escape(str(corpus))}: holds a corpus with n_train=4, .*seed=0; asked for n_train=2; "
    with pytest.raises(DataError, match=message):  # what a launch and `sweep oracle` build
        data_root_for(spec, None)
    with pytest.raises(DataError, match=message):  # `sweep data make --root DIR`
        synth.make_default_dataset(corpus, seed=0, n_train=2, n_valid=1, n_test=1)
    with pytest.raises(DataError, match=rf"^{re.escape(str(corpus))}: .* asked for seed=1; "):
        synth.make_default_dataset(corpus, seed=1, n_train=4, n_valid=1, n_test=1)
    assert re.match(message[1:], refused(tmp_path, capsys, asks))
    (tmp_path / "spec.yaml").write_text(study(asks))
    env = {**os.environ, "SWEEP_DATA": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "sweep", "data", "check", str(tmp_path / "spec.yaml")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", proc
    assert proc.stderr.strip().splitlines() == [f"sweep: {proc.stderr.strip()[7:]}"]
    assert proc.stderr.startswith(f"sweep: {corpus}: holds a corpus with n_train=4"), proc.stderr
    assert tree(corpus) == before and sorted(os.listdir(tmp_path)) == listing + ["spec.yaml"]
    assert not cache.exists()
    same = "{kind: default, root: %s, n_train: 4, n_valid: 1, n_test: 1}" % corpus  # the corpus asked for
    assert data_root_for(parse_spec(study(same), "s.yaml"), None) == corpus.resolve() and tree(corpus) == before


def test_a_root_of_something_else_is_refused_by_the_check(tmp_path, cache, capsys):
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "sub" / "notes.txt").write_text("keep me")
    err = refused(tmp_path, capsys, "{kind: default, root: %s, n_train: 2}" % mine)
    assert err.startswith(f"{mine}: exists and is not a corpus made by sweep.data.synth (no manifest.json)"), err
    assert tree(mine) == {"sub/notes.txt": hashlib.sha256(b"keep me").hexdigest()} and not cache.exists()
    (mine / "manifest.json").write_text('{"generator": "someone else"}')
    err = refused(tmp_path, capsys, "{kind: default, root: %s, n_train: 2}" % mine)
    assert "(a manifest.json of something else)" in err and (mine / "sub" / "notes.txt").is_file()


@needs_tts
def test_in_the_cache_only_builds_of_ours_are_deleted(tmp_path, cache):
    target = default_corpus_dir(0, **SMALL)
    assert target.parent == cache
    partial = cache / f".{target.name}.partial"
    partial.mkdir(parents=True)
    (partial / "notes.txt").write_text("not ours")
    with pytest.raises(DataError, match=rf"^{re.escape(str(partial))}: .*refusing to delete it"):
        synth.make_default_dataset(target, seed=0, **SMALL)
    assert (partial / "notes.txt").read_text() == "not ours" and not target.exists()
    (partial / "notes.txt").unlink()
    (partial / BUILDING).write_text("")  # a partial build of ours, left by a crash: deleted, rebuilt
    assert synth.make_default_dataset(target, seed=0, **SMALL) == target and not partial.exists()
    assert not (target / BUILDING).exists()


def test_a_prepared_root_leaves_a_marked_partial_and_deletes_only_that(tmp_path, cache):
    wsj = write_wsj0mix(tmp_path / "wsj", noise_utterances(8, 3))
    plan = check_dataset(DatasetSpec("wsj0mix", str(wsj)), 2)

    def crash(plan, out, progress):
        (out / "half.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_root(plan, cache, None, crash)
    (partial,) = cache.glob(".*.partial")
    assert (partial / BUILDING).is_file()  # marked as ours
    (partial / BUILDING).unlink()  # now it could be anyone's: kept
    with pytest.raises(DataError, match=rf"^{re.escape(str(partial))}: "):
        cached_root(plan, cache, None, fill_records)
    assert (partial / "half.txt").read_text() == "half"
    (partial / BUILDING).write_text("")
    root = cached_root(plan, cache, None, fill_records)
    assert (root / "dataset.json").is_file() and not (root / BUILDING).exists() and not partial.exists()


# ----------------------------------------------------------------------------- 2. roots that are not corpora


@pytest.fixture
def no_walk_of_the_system(monkeypatch):
    """A scan of a system folder fails the test at once (instead of walking the whole disk)."""
    walk = os.walk

    def guarded(top, *args, **kwargs):
        assert str(top) not in ("/", "/etc", "/usr", "/proc"), f"scanned {top}"
        return walk(top, *args, **kwargs)

    monkeypatch.setattr(speakers.os, "walk", guarded)


@pytest.mark.parametrize("kind", ["default", "wsj0mix", "librimix", "speakers"])
@pytest.mark.parametrize("where", ["file", "/", "/etc", "/usr", "/proc", "home"])
def test_files_system_folders_and_home_are_refused(kind, where, tmp_path, cache, capsys, monkeypatch,
                                                   no_walk_of_the_system):
    home = tmp_path / "home"
    (home / "music").mkdir(parents=True)
    (home / "music" / "song.wav").write_bytes(b"RIFF")
    monkeypatch.setenv("HOME", str(home))
    root = {"file": tmp_path / "notes.txt", "home": home}.get(where, Path(where))
    (tmp_path / "notes.txt").write_text("not a corpus")
    err = refused(tmp_path, capsys, "{kind: %s, root: %s}" % (kind, root))
    why = {"file": "not a folder", "home": "your home folder"}.get(where, "a system folder")
    assert err.startswith(f"{root}: {why}"), err
    assert kind == "default" or f"not a {kind} corpus" in err or where == "file", err
    assert not cache.exists() and (home / "music" / "song.wav").read_bytes() == b"RIFF"


@pytest.mark.parametrize("kind, expected", [
    ("wsj0mix", "not a wsj0-mix corpus: no tr/, cv/ or tt/ in it"),
    ("librimix", "not a LibriMix corpus: no metadata/ folder in it"),
    ("speakers", "not a speakers corpus: no .wav or .flac files under it"),
])
def test_a_folder_that_is_not_a_corpus_of_its_kind(kind, expected, tmp_path, capsys):
    folder = tmp_path / "stuff"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "readme.txt").write_text("hello")
    err = refused(tmp_path, capsys, "{kind: %s, root: %s}" % (kind, folder))
    assert err.startswith(f"{folder}: {expected}"), err


def test_a_speakers_scan_is_bounded(tmp_path, monkeypatch, no_walk_of_the_system):
    root = tmp_path / "big"
    for k in range(30):
        (root / f"spk{k}").mkdir(parents=True)
        (root / f"spk{k}" / "x.txt").write_text("")
    with monkeypatch.context() as m:
        m.setattr(speakers, "MAX_SCAN_ENTRIES", 40)
        with pytest.raises(DataError, match=rf"^{re.escape(str(root))}: more than 40 files and folders .*scan stopped"):
            check_dataset(DatasetSpec("speakers", str(root)), 2)
    spk = write_speakers(tmp_path / "spk", noise_utterances(8, 4), rate=8000)
    with pytest.raises(DataError, match=r"^/: a system folder, not a folder of noise recordings \(dataset.noise\)"):
        check_dataset(DatasetSpec("speakers", str(spk), noise="/"), 2)


# ----------------------------------------------------------------------------- 3. n_src the corpus lacks


def test_three_speakers_from_the_two_speaker_default_corpus_is_refused(tmp_path, cache, capsys):
    err = refused(tmp_path, capsys, "{kind: default, n_train: 2, n_valid: 1, n_test: 1}", n_src=3)
    assert err.startswith(f"{default_corpus_dir(0, **SMALL)}: the embedded default corpus is 2-speaker"), err
    assert "n_src is 3" in err
    spec = parse_spec(study("{kind: default, n_train: 2, n_valid: 1, n_test: 1}", n_src=3), "s.yaml")
    with pytest.raises(DataError, match="2-speaker"):
        data_root_for(spec, None)
    spec_file, db = tmp_path / "spec.yaml", tmp_path / "sweep.db"
    assert main(["launch", str(spec_file), "--storage", f"sqlite:///{db}"]) == 2
    assert "2-speaker" in capsys.readouterr().err
    assert not cache.exists() and not db.exists()  # refused before anything is written


def test_n_src_other_than_a_mixture_corpus_holds_is_refused(tmp_path, cache, capsys):
    utts = noise_utterances(8, 3)
    wsj2 = write_wsj0mix(tmp_path / "wsj2", utts, n_src=2)
    err = refused(tmp_path, capsys, "{kind: wsj0mix, root: %s}" % wsj2, n_src=3)
    assert err.startswith(f"{wsj2}: a 2-speaker corpus (tr/ holds s1..s2) but n_src is 3"), err
    wsj3 = write_wsj0mix(tmp_path / "wsj3", utts, n_src=3, sizes={"tr": 3, "cv": 2, "tt": 2})
    err = refused(tmp_path, capsys, "{kind: wsj0mix, root: %s}" % wsj3, n_src=2)
    assert err.startswith(f"{wsj3}: a 3-speaker corpus (tr/ holds s1..s3) but n_src is 2"), err
    libri = write_librimix(tmp_path / "Libri2Mix", utts)
    err = refused(tmp_path, capsys, "{kind: librimix, root: %s}" % libri, n_src=3)
    assert err.startswith(f"{libri / 'metadata'}/mixture_train-100_mix_clean.csv: a Libri2Mix metadata file "
                          "(2-speaker corpus: 2 sources per mixture) but n_src is 3"), err
    assert not cache.exists()
