"""A real Ray cluster: a head and a second node as separate `ray start` processes on one machine
(Ray 2.60 authenticates nodes with a token), a study launched with `--ray-address` whose trials
run on both nodes, and a node stopped while it runs a trial."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_spec
from tests.ray_nodes import stop_ray_under

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # stops a node mid-trial: timing matters

BIN = Path(sys.executable).parent
ENV = {**os.environ, "RAY_AUTH_MODE": "token"}  # the second node and the driver show the head's token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_nodes():
    """(address, the second node's `ray start --block` process, its node name); both stopped afterwards."""
    tmp = Path(f"/tmp/rc{os.getpid()}")  # Ray's socket paths must stay short
    port = _free_port()
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--temp-dir", str(tmp)]
    subprocess.run([str(BIN / "ray"), "start", "--head", "--port", str(port), "--include-dashboard", "false",
                    *common], check=True, capture_output=True, env=ENV, timeout=180)
    worker = subprocess.Popen([str(BIN / "ray"), "start", "--address", f"127.0.0.1:{port}", "--block", *common],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while (node := _worker_node(port)) is None:
            assert worker.poll() is None and time.monotonic() < deadline, "the second node did not join"
            time.sleep(1)
        yield f"127.0.0.1:{port}", worker, node
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
        stop_ray_under(tmp)


def _worker_node(port: int) -> str | None:
    """The id of the live node that is not the head (as sweep_trial.node writes it), or None."""
    code = ("import ray; ray.init(address='127.0.0.1:%d', log_to_driver=False); "
            "print(' '.join(n['NodeID'] for n in ray.nodes() if n['Alive'] "
            "and 'node:__internal_head__' not in n['Resources']))" % port)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    ids = out.stdout.strip().splitlines()[-1].split() if out.returncode == 0 and out.stdout.strip() else []
    return f"{socket.gethostname()}:{ids[0][:12]}" if ids else None


def _nodes(db: Path) -> list[tuple[int, str, str | None]]:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("select number, status, node from sweep_trial order by number").fetchall()
    except sqlite3.OperationalError:
        return []


def _done_and_busy(rows, node: str) -> bool:
    """``node`` has finished a trial and is running another one now."""
    return (any(s == "complete" and n == node for _, s, n in rows)
            and any(s == "running" and n == node for _, s, n in rows))


def test_trials_run_on_both_nodes_and_survive_a_node_stopped_mid_trial(tmp_path, tiny_data, two_nodes):
    address, worker, node = two_nodes
    spec = tmp_path / "cluster.yaml"
    spec.write_text(tiny_spec(tiny_data, study="cluster", masks=("AM", "PSM", "NPSM"),
                              activations=("sigmoid", "relu"), epochs=10, max_concurrent=2)
                    + "failure: {max_retries: 2}\n")
    db = tmp_path / "sweep.db"
    proc = subprocess.Popen([str(BIN / "sweep"), "launch", str(spec), "--storage", f"sqlite:///{db}",
                             "--ray-address", address], cwd=tmp_path, env={**ENV, "SWEEP_RUNS": str(tmp_path / "r")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not _done_and_busy(_nodes(db), node):
            assert proc.poll() is None and time.monotonic() < deadline, _nodes(db)
            time.sleep(0.2)
        os.killpg(worker.pid, signal.SIGTERM)  # the second node goes away mid-study
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = _nodes(db)
    assert len(rows) == 6 and all(s == "complete" for _, s, _ in rows), rows
    assert len({n for _, _, n in rows}) == 2 and node in {n for _, _, n in rows}  # what it finished stays
    assert "running it again" in err  # the trial the lost node was running
