"""Bad data gets one clear line (naming the file) and exit 2, from `sweep data check` and from
`sweep launch`, which writes nothing: the SQLite file never appears."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sweep.audio import write_wav
from sweep.cli import main
from tests.data_corpora import study, synth_utterances, write_speakers, write_wsj0mix

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    utts = synth_utterances(8, 4)
    base = tmp_path_factory.mktemp("good")
    return write_speakers(base / "spk", utts), write_wsj0mix(base / "wsj", utts)


def fresh(tmp_path: Path, src: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def assert_launch_fails(tmp_path: Path, data_line: str, capsys, *, must_name: str, message: str, n_src: int = 2) -> None:
    """``data check`` and ``launch`` both exit 2 with one line naming ``must_name``; no database."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(study(data_line, n_src=n_src))
    db = tmp_path / "sweep.db"
    for argv in (["data", "check", str(spec)], ["launch", str(spec), "--storage", f"sqlite:///{db}"]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert err.startswith("sweep: ") and must_name in err and message in err, err
    assert not db.exists()


def test_a_good_corpus_is_summarised(corpora, tmp_path, capsys):
    spk, _ = corpora
    spec = tmp_path / "spec.yaml"
    spec.write_text(study(f"{{kind: speakers, root: {spk}, sample_rate: 16000, n_train: 50, n_valid: 3, n_test: 3}}"))
    assert main(["data", "check", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "train   50 mixtures/epoch (dynamic mixing) from 12 utterances" in out
    assert "open    3 mixtures from 8 utterances" in out and "2 speakers, 16000 Hz" in out


def test_missing_folder(corpora, tmp_path, capsys):
    assert_launch_fails(tmp_path, f"{{kind: wsj0mix, root: {tmp_path / 'nowhere'}}}", capsys,
                 must_name=str(tmp_path / "nowhere"), message="missing folder")
    wsj = fresh(tmp_path, corpora[1])
    shutil.rmtree(wsj / "cv")
    assert_launch_fails(tmp_path, f"{{kind: wsj0mix, root: {wsj}}}", capsys, must_name=str(wsj / "cv"), message="missing folder")


def test_mix_and_source_lists_that_do_not_match(corpora, tmp_path, capsys):
    wsj = fresh(tmp_path, corpora[1])
    victim = sorted((wsj / "tr" / "s2").iterdir())[1]
    victim.rename(victim.with_name("typo.wav"))
    assert_launch_fails(tmp_path, f"{{kind: wsj0mix, root: {wsj}}}", capsys, must_name=victim.name,
                 message="must hold the same file names")


def test_sample_rate_that_differs_without_resampling(corpora, tmp_path, capsys):
    spk = corpora[0]
    assert_launch_fails(tmp_path, f"{{kind: speakers, root: {spk}, sample_rate: 8000}}", capsys,
                 must_name="100-1-0000.flac", message="sample rate 16000 Hz but the study uses 8000 Hz")


@pytest.mark.parametrize("case", ["empty", "unreadable", "stereo"])
def test_empty_unreadable_and_multichannel_files(corpora, tmp_path, capsys, case):
    spk = fresh(tmp_path, corpora[0])
    bad = spk / "103" / "1" / f"103-1-9999.{'wav' if case != 'unreadable' else 'flac'}"
    if case == "empty":
        write_wav(bad, np.zeros(0), 16000)
    elif case == "unreadable":
        bad.write_bytes(b"fLaC but not really")
    else:
        sf.write(str(bad), np.zeros((1600, 2)), 16000)
    message = {"empty": "empty file", "unreadable": "not a readable audio file", "stereo": "2 channels"}[case]
    assert_launch_fails(tmp_path, f"{{kind: speakers, root: {spk}, sample_rate: 16000}}", capsys,
                 must_name=str(bad), message=message)


def test_speaker_with_too_few_utterances(corpora, tmp_path, capsys):
    spk = fresh(tmp_path, corpora[0])
    for extra in sorted((spk / "105" / "1").iterdir())[2:]:
        extra.unlink()
    assert_launch_fails(tmp_path, f"{{kind: speakers, root: {spk}, sample_rate: 16000}}", capsys,
                 must_name=str(spk / "105" / "1"), message="speaker '105' has 2 utterance(s)")


def test_launch_subprocess_exits_2_and_writes_no_database(corpora, tmp_path):
    wsj = fresh(tmp_path, corpora[1])
    bad = sorted((wsj / "tt" / "s1").iterdir())[0]
    bad.write_bytes(b"RIFF")  # truncated header
    spec = tmp_path / "spec.yaml"
    spec.write_text(study(f"{{kind: wsj0mix, root: {wsj}}}"))
    env = {**os.environ, "SWEEP_DATA": str(tmp_path / "cache"), "SWEEP_RUNS": str(tmp_path / "runs")}
    proc = subprocess.run([sys.executable, "-m", "sweep.cli", "launch", str(spec), "--storage",
                           f"sqlite:///{tmp_path / 'sweep.db'}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and str(bad) in proc.stderr
    assert not (tmp_path / "sweep.db").exists() and not (tmp_path / "cache").exists()
