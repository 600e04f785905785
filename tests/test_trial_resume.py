"""A trial interrupted by a real SIGKILL of its driver continues from its checkpoint on
`sweep resume`: the same Optuna trial and row, no epoch done twice, and the same final scores
as a run that was never interrupted (CPU training is deterministic)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import tiny_spec

pytestmark = pytest.mark.slow

SWEEP = str(Path(sys.executable).with_name("sweep"))
# One trial, 4 epochs, long enough per epoch (about a second) to be killed inside epoch 3.
TRAIN = "  max_train_mixtures: 24"


def _spec(tmp_path: Path, data: Path, study: str) -> Path:
    text = tiny_spec(data, study=study, masks=("PSM",), epochs=4, n_trials=1, extra_train=TRAIN)
    text = text.replace("hidden_size: 32", "hidden_size: 128").replace("segment_s: 0.5", "segment_s: 2.0")
    path = tmp_path / f"{study}.yaml"
    path.write_text(text)
    return path


def _query(db: Path, sql: str, *args) -> list[tuple]:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def _scores(db: Path, study: str) -> list[tuple]:
    return _query(db, "select r.condition, r.assignment, r.si_snri, r.sdri from sweep_result r join sweep_trial t "
                      "on r.trial_id = t.id join sweep_study s on t.study_id = s.id where s.name = ? "
                      "order by r.condition, r.assignment", study)


def _epochs(db: Path, study: str) -> list[tuple]:
    return _query(db, "select e.epoch, e.train_loss, e.valid_si_snri from sweep_epoch e join sweep_trial t on "
                      "e.trial_id = t.id join sweep_study s on t.study_id = s.id where s.name = ? order by e.id", study)


def test_a_trial_killed_in_epoch_3_resumes_from_its_checkpoint_and_ends_as_if_never_stopped(tmp_path, tiny_data):
    db, env = tmp_path / "sweep.db", {**os.environ, "SWEEP_RUNS": str(tmp_path / "runs")}
    url = f"sqlite:///{db}"
    ref = subprocess.run([SWEEP, "launch", str(_spec(tmp_path, tiny_data, "whole")), "--storage", url], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    proc = subprocess.Popen([SWEEP, "launch", str(_spec(tmp_path, tiny_data, "cut")), "--storage", url], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not _query(db, "select t.checkpoint_epoch from sweep_trial t join sweep_study s on t.study_id = s.id "
                             "where s.name = 'cut' and t.checkpoint_epoch = 2"):
            assert proc.poll() is None and time.monotonic() < deadline, "the driver ended before epoch 3"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # during epoch 3: the driver and every Ray process it started
        proc.wait(timeout=60)
    assert [e for e, *_ in _epochs(db, "cut")] == [1, 2] and not _scores(db, "cut")

    resumed = subprocess.run([SWEEP, "resume", "cut", "--storage", url], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "0 (from its checkpoint after epoch 2)" in resumed.stderr

    (trial,) = optuna.load_study(study_name="cut", storage=url).trials  # the same Optuna trial went on
    assert trial.state == TrialState.COMPLETE
    whole, cut = _epochs(db, "whole"), _epochs(db, "cut")
    assert [e for e, *_ in cut] == [1, 2, 3, 4]  # each epoch once
    for a, b in zip(whole, cut):
        assert a[0] == b[0] and a[1] == pytest.approx(b[1], abs=1e-6) and a[2] == pytest.approx(b[2], abs=1e-6)
    for a, b in zip(_scores(db, "whole"), _scores(db, "cut"), strict=True):
        assert a[:2] == b[:2] and a[2] == pytest.approx(b[2], abs=1e-6) and a[3] == pytest.approx(b[3], abs=1e-6)
    ((uri, size),) = _query(db, "select t.checkpoint_uri, t.checkpoint_bytes from sweep_trial t join sweep_study s "
                                "on t.study_id = s.id where s.name = 'cut'")
    assert Path(uri, "best.pt").is_file() and not Path(uri, "state.pt").exists() and size > 0
    stale = [p for p in (tmp_path / "runs").rglob("checkpoint_*") if p.is_dir()]
    assert len(stale) == 2  # one kept per study's trial: the interrupted run's checkpoint was removed
