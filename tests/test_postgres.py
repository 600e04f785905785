"""PostgreSQL for teams: the same sweep against a real server that the test starts."""

from __future__ import annotations

import glob
import io
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import optuna
import pytest

from sweep.driver.launch import launch
from sweep.spec import parse_spec
from sweep.store import Store
from tests.conftest import tiny_spec

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries missing: `bash scripts/setup.sh --test` installs them")
        pytest.skip("PostgreSQL server not installed (bash scripts/setup.sh --test)")
    bindir = Path(found[-1]).parent
    # The server refuses to run as root; run it as Debian's `postgres` user in a folder it owns.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="sweep-pg-"))
    os.chmod(base, 0o755)
    if as_user:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-U", "sweep", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "start",
                              "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1"], check=True, capture_output=True)
    try:
        subprocess.run(as_user + [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "sweep", "sweep"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://sweep@127.0.0.1:{port}/sweep"
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


PASSWORD = "s3cret-Pw-in-url"  # the test server trusts local connections, so any password works


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                hits.append(str(path))
        except OSError:
            continue
    return hits


def test_a_sweep_writes_to_postgresql_and_its_password_goes_nowhere(tmp_path, tiny_data, postgres_url, monkeypatch):
    import ray

    monkeypatch.setenv("SWEEP_RUNS", str(tmp_path / "ray"))
    ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # Ray's socket paths must stay short
    url = postgres_url.replace("sweep@", f"sweep:{PASSWORD}@")
    text = tiny_spec(tiny_data, study="pg", masks=("AM", "PSM"))
    spec = parse_spec(text, "pg.yaml")
    printed = io.StringIO()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _temp_dir=str(ray_tmp))
    try:
        outcome = launch(spec, url, out=printed)
    finally:
        ray.shutdown()
    assert outcome.finished == 2
    assert PASSWORD not in printed.getvalue() and "sweep:***@" in printed.getvalue()
    # Tune pickles its searcher and callbacks (tuner.pkl, searcher state); Ray logs the driver's work.
    assert (tmp_path / "ray").is_dir() and not _files_containing(tmp_path / "ray", PASSWORD.encode())
    assert not _files_containing(ray_tmp, PASSWORD.encode())
    shutil.rmtree(ray_tmp, ignore_errors=True)
    ot = optuna.load_study(study_name="pg", storage=postgres_url)
    store = Store(postgres_url)
    rows = store.trials(store.study("pg").id)
    assert [r.number for r in rows] == sorted(t.number for t in ot.trials)
    assert all(r.status == "complete" and r.valid_si_snri == pytest.approx(t.value)
               for r, t in zip(rows, sorted(ot.trials, key=lambda t: t.number)))
    _, results, _ = store.frames("pg")
    assert len(results) == 2 * 4
