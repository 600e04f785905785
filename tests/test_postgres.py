"""PostgreSQL for teams: the same sweep against a real server that the test starts."""

from __future__ import annotations

import glob
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from sweep.driver.launch import launch
from sweep.spec import parse_spec
from sweep.store import Store
from tests.conftest import tiny_spec

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresUrl(str):
    """The URL of a PostgreSQL server the test started (a plain ``str`` everywhere a URL goes),
    with what a test needs to act on the server itself: a fresh database, a restart."""

    bindir: Path
    data: Path
    log: Path
    as_user: list[str]

    def _ctl(self, *args: str) -> None:
        subprocess.run(self.as_user + [str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
                       check=True, capture_output=True, timeout=120)

    def restart(self) -> None:
        """Restart the server at once: every open connection is cut (``-m fast``), the server is
        back, on the same port and data, when this returns."""
        self._ctl("-l", str(self.log), "-m", "fast", "-w", "restart")

    def new_database(self, name: str) -> str:
        """Create database ``name`` on this server (CREATE DATABASE runs outside a transaction)
        and return its URL: each test gets its own, so studies never meet across tests."""
        import psycopg2

        conn = psycopg2.connect(make_url(self).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return make_url(self).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of its own per test module, with a database ``sweep``: a
    :class:`PostgresUrl`."""
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
    # The server's options go into its configuration, so a restart keeps its port and socket folder.
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {port}\nunix_socket_directories = '{base}'\nlisten_addresses = '127.0.0.1'\n")
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run(as_user + [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "sweep", "sweep"],
                       check=True, capture_output=True)
        url = PostgresUrl(f"postgresql+psycopg2://sweep@127.0.0.1:{port}/sweep")
        url.bindir, url.data, url.log, url.as_user = bindir, data, base / "log", as_user
        yield url
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


# -- a team's database: several drivers, and a server that goes away for a moment ----------------
SWEEP = str(Path(sys.executable).with_name("sweep"))


def _start_driver(folder: Path, url: str, spec_text: str, *command: str) -> subprocess.Popen:
    """`sweep launch` of ``spec_text`` (or another sub-command) in ``folder``, with its own Tune folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(spec_text)
    env = {**os.environ, "SWEEP_RUNS": str(folder / "ray")}
    args = list(command) or ["launch", str(folder / "spec.yaml")]
    return subprocess.Popen([SWEEP, *args, "--storage", url], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, err


def _trial_rows(url: str) -> list[tuple]:
    """(study name, number, status, epochs_done) of every sweep_trial row; [] before the tables exist."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT s.name, t.number, t.status, t.epochs_done FROM sweep_trial t "
                                     "JOIN sweep_study s ON s.id = t.study_id ORDER BY s.name, t.number")).all()
    except sa_exc.DBAPIError:
        return []
    finally:
        engine.dispose()


STATE = {TrialState.COMPLETE: "complete", TrialState.FAIL: "failed"}


def _assert_rows_match_optuna(url: str, study: str, masks: set[str]) -> None:
    """The study's rows are Optuna's trials one to one, in the same state, and its grid
    (``masks``) was completed exactly once (a trial a stopped driver left running is failed
    and its configuration ran again)."""
    store = Store(url)
    row_of = {r.number: r for r in store.trials(store.study(study).id)}
    ot = optuna.load_study(study_name=study, storage=url)
    assert sorted(row_of) == sorted(t.number for t in ot.trials)
    for t in ot.trials:
        row = row_of[t.number]
        assert row.status == STATE[t.state] and row.mask == t.params["mask_type"]
        if t.state == TrialState.COMPLETE:
            assert row.valid_si_snri == pytest.approx(t.value)
    assert sorted(t.params["mask_type"] for t in ot.trials if t.state == TrialState.COMPLETE) == sorted(masks)


def test_two_drivers_run_two_studies_in_one_postgresql_database_at_once(tmp_path, tiny_data, postgres_url):
    url = postgres_url.new_database("two_drivers")
    masks = {"alpha": {"AM", "PSM"}, "beta": {"NPSM", "PSM"}}
    # Each driver starts a private Ray instance of its own on this machine.
    drivers = {name: _start_driver(tmp_path / name, url, tiny_spec(tiny_data, study=name, masks=sorted(m)))
               for name, m in masks.items()}
    ended = {name: _wait(proc) for name, proc in drivers.items()}
    for name, (code, err) in ended.items():
        assert code == 0, f"{name}: {err[-3000:]}"
        _assert_rows_match_optuna(url, name, masks[name])
    # No cross-talk: every row sits under its own study, and nothing else is in the database.
    store = Store(url)
    assert sorted(s.name for s in store.studies()) == ["alpha", "beta"]
    for name in masks:
        assert {r.mask for r in store.trials(store.study(name).id)} == masks[name]
    assert len(_trial_rows(url)) == 4


def test_a_postgresql_restart_mid_study_is_survived_or_ends_resumable(tmp_path, tiny_data, postgres_url):
    url = postgres_url.new_database("restart")
    masks = {"AM", "PSM"}
    spec = tiny_spec(tiny_data, study="restart", masks=sorted(masks), epochs=10)  # seconds per trial
    proc = _start_driver(tmp_path / "launch", url, spec)
    deadline = time.monotonic() + 240
    while not any(status == "running" and epochs >= 1 for _, _, status, epochs in _trial_rows(url)):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, _trial_rows(url)
        time.sleep(0.2)
    postgres_url.restart()  # every connection of the driver (ours and Optuna's) is cut
    code, err = _wait(proc)
    assert "Traceback" not in err, err[-3000:]
    if code != 0:
        # Not survived: one line that names the database problem, and the study resumes.
        said = [line for line in err.splitlines() if line.startswith("sweep:")]
        assert code == 2 and len(said) == 1 and "database" in said[0], err[-3000:]
        assert "sweep resume restart" in said[0]
        code, err = _wait(_start_driver(tmp_path / "resume", url, "", "resume", "restart"))
        assert code == 0, err[-3000:]
    _assert_rows_match_optuna(url, "restart", masks)
    assert not [row for row in _trial_rows(url) if row[2] == "running"]
