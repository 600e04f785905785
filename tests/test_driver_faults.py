"""The driver under faults: signals, failing trials, impossible resources, a Ray cluster already
running on the machine. Each runs a real `sweep launch` subprocess on a tiny real corpus."""

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
from tests.ray_nodes import stop_ray_under

SWEEP = str(Path(sys.executable).with_name("sweep"))


def rows(db: Path, columns: str = "number, status, error, epochs_done") -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute(f"select {columns} from sweep_trial order by number").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def start(tmp_path: Path, text: str, *args: str) -> tuple[subprocess.Popen, Path]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    db = tmp_path / "sweep.db"
    env = {**os.environ, "SWEEP_RUNS": str(tmp_path / "ray")}
    proc = subprocess.Popen([SWEEP, "launch", str(spec), "--storage", f"sqlite:///{db}", *args], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, db


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err


@pytest.mark.parametrize("cpu", ["64", "3.5"])
def test_resources_no_node_can_give_exit_2_with_the_numbers_before_anything_is_written(tmp_path, tiny_data, cpu):
    if float(cpu) <= (os.cpu_count() or 1):
        pytest.skip(f"this machine has {os.cpu_count()} CPUs")
    proc, db = start(tmp_path, tiny_spec(tiny_data) + f"resources: {{cpu: {cpu}}}\n")
    code, err = finish(proc, timeout=120)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"asks for {float(cpu):g} CPU and 0 GPU" in err and f"at most {os.cpu_count()} CPU" in err
    assert not db.exists()


@pytest.mark.parametrize("nodes, cpu, gpu, fit", [
    ([(2.0, 0.0)], 1.0, 0.0, 2),               # this machine: two 1-CPU trials
    ([(16.0, 1.0)], 1.0, 0.25, 4),             # a quarter of a GPU each: four trials share one GPU
    ([(16.0, 1.0)], 2.0, 0.3, 3),              # 0.3 of a GPU: three fit, a fourth would need 1.2
    ([(16.0, 8.0)], 4.0, 1.0, 4),              # eight GPUs but CPUs for four trials
    ([(2.0, 0.0), (16.0, 2.0)], 1.0, 0.5, 4),  # trials never span nodes: only the GPU node runs them
])
def test_max_concurrent_defaults_to_the_trials_the_resources_allow(nodes, cpu, gpu, fit):
    from sweep.driver.cluster import trials_that_fit
    from sweep.spec import parse_spec

    assert trials_that_fit(nodes, cpu, gpu) == fit
    assert parse_spec("study: s\nfamily: upit\nparams: {}\n", "s.yaml").max_concurrent is None  # found at launch


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_closes_the_study_cleanly_and_prints_how_to_resume(tmp_path, tiny_data, signum, code):
    proc, db = start(tmp_path, tiny_spec(tiny_data, masks=("AM", "PSM"), epochs=40))
    deadline = time.monotonic() + 180
    while not any(r[1] == "running" and r[3] >= 1 for r in rows(db)):  # mid-trial, after an epoch
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, rows(db)
        time.sleep(0.2)
    os.kill(proc.pid, signum)  # the driver only, as a terminal's Ctrl-C or `kill` would
    exit_code, err = finish(proc, timeout=120)
    assert exit_code == code, err
    last = err.strip().splitlines()[-1]
    assert "resume with: sweep resume tiny" in last and signal.Signals(signum).name in last
    assert "Traceback" not in err and "C++" not in err and "*** " not in err
    after = rows(db)
    assert after and not [r for r in after if r[1] == "running"]
    stopped = [r for r in after if r[1] == "interrupted"]
    assert stopped and all(f"interrupted by {signal.Signals(signum).name}" in r[2] for r in stopped)
    assert all("continues it from its checkpoint" in r[2] for r in stopped)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    # Optuna keeps them running: `sweep resume` continues each as the same trial.
    assert sorted(t.number for t in study.trials if t.state == TrialState.RUNNING) == sorted(r[0] for r in stopped)
    assert not [t for t in study.trials if t.state == TrialState.FAIL]


@pytest.mark.slow
def test_a_failing_trial_stores_its_reason_everywhere_and_is_retried(tmp_path, tiny_data):
    text = tiny_spec(tiny_data, masks=("AM",), activations=("relu",), extra_train="  grad_clip: 1.0e+30").replace(
        "  lr: 0.003", "  lr: 1.0e+30")  # the weights blow up: relu masks overflow the loss
    proc, db = start(tmp_path, text + "failure: {max_retries: 1}\n")
    code, err = finish(proc)
    assert code == 1, err  # the study did not get its trial
    (number, status, error, _), = rows(db)
    assert status == "failed" and error.splitlines()[0].startswith("FloatingPointError: training loss became")
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{db}")
    (trial,) = study.trials  # retried inside the same Optuna trial: rows stay 1:1
    assert trial.state == TrialState.FAIL and trial.system_attrs["fail_reason"] == error
    assert "running it again" in err  # the retry
    failed_lines = [ln for ln in err.splitlines() if "FAILED" in ln]
    assert len(failed_lines) == 1 and "FloatingPointError: training loss became" in failed_lines[0]
    assert "(log: " in failed_lines[0] and "Traceback" not in err and "Failed to fetch metrics" not in err
    status = subprocess.run([SWEEP, "status", "tiny", "--storage", f"sqlite:///{db}"], capture_output=True,
                            text=True, timeout=120)
    assert "FloatingPointError: training loss became" in status.stdout


@pytest.mark.slow
def test_a_ray_cluster_already_on_the_machine_does_not_hijack_a_local_launch(tmp_path, tiny_data):
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    tmp = Path(f"/tmp/rh{os.getpid()}")  # Ray's socket paths must stay short
    subprocess.run([ray_bin, "start", "--head", "--num-cpus", "1", "--temp-dir", str(tmp), "--include-dashboard",
                    "false"], check=True, capture_output=True, env=env, timeout=120)
    try:
        proc, db = start(tmp_path, tiny_spec(tiny_data, masks=("AM",)))
        code, err = finish(proc)
        assert code == 0, err
        assert [r[1] for r in rows(db)] == ["complete"]
        assert "Token authentication is enabled" not in err
    finally:
        stop_ray_under(tmp)
