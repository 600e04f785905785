"""An interrupted study resumes from the database: a real `sweep launch` is SIGKILLed mid-study."""

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


def statuses(db: Path) -> list[tuple[int, str]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("select number, status from sweep_trial").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def test_resume_after_sigkill_finishes_the_grid_without_duplicates_or_holes(tmp_path, tiny_data):
    spec = tmp_path / "grid.yaml"
    spec.write_text(tiny_spec(tiny_data, study="killed", masks=("AM", "PSM", "NPSM"),
                              activations=("sigmoid", "relu"), epochs=2))
    db = tmp_path / "sweep.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "SWEEP_RUNS": str(tmp_path / "ray")}
    proc = subprocess.Popen([SWEEP, "launch", str(spec), "--storage", url], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while True:
            rows = statuses(db)
            done = [n for n, s in rows if s == "complete"]
            running = [n for n, s in rows if s == "running"]
            if len(done) >= 2 and running:
                break
            assert proc.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, f"no progress to kill in time: {rows}"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and every Ray process it started
        proc.wait(timeout=60)

    before = optuna.load_study(study_name="killed", storage=url)
    complete_before = {t.number: t.params for t in before.trials if t.state == TrialState.COMPLETE}
    stale = [t.number for t in before.trials if t.state == TrialState.RUNNING]
    assert len(complete_before) >= 2 and stale

    resumed = subprocess.run([SWEEP, "resume", "killed", "--storage", url], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "a stopped driver left running continue" in resumed.stderr

    after = optuna.load_study(study_name="killed", storage=url)
    complete = [t for t in after.trials if t.state == TrialState.COMPLETE]
    grid = {(m, a) for m in ("AM", "PSM", "NPSM") for a in ("sigmoid", "relu")}
    seen = [(t.params["mask_type"], t.params["activation"]) for t in complete]
    assert len(seen) == len(set(seen)) == 6 and set(seen) == grid  # no duplicate, no hole
    assert len(after.trials) == 6  # the interrupted trials went on as themselves: no new trial
    for number, params in complete_before.items():  # finished trials never ran again
        assert after.trials[number].state == TrialState.COMPLETE
        assert seen.count((params["mask_type"], params["activation"])) == 1
    for number in stale:
        assert after.trials[number].state == TrialState.COMPLETE

    rows = dict(statuses(db))
    assert sorted(rows) == sorted(t.number for t in after.trials)  # one row per Optuna trial
    assert set(rows.values()) == {"complete"}
    with sqlite3.connect(db) as c:
        epochs = c.execute("select t.number, e.epoch from sweep_epoch e join sweep_trial t on e.trial_id = t.id").fetchall()
    assert sorted(epochs) == [(n, e) for n in range(6) for e in (1, 2)]  # every epoch once

    status = subprocess.run([SWEEP, "status", "killed", "--storage", url], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "6/6 finished" in status.stdout
