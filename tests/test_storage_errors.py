"""Every storage problem is one line on stderr and exit status 2, never a traceback or a password;
reading (``status``, ``report``, ``resume`` of an unknown study) creates no database and writes
nothing, so a read-only database reads; and two first launches on a new database do not collide."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sweep.cli import main
from sweep.spec import load_spec
from sweep.store import Store
from tests.test_spec import GOOD, write

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-pw"
BAD_DATA = GOOD + "dataset: {kind: wsj0mix, root: /nonexistent-sweep-data}\n"  # storage is checked first


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_exit_2(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: "), err
    assert "Traceback" not in err and SECRET not in err, err
    for w in words:
        assert w in err, err


def _study_db(path: Path, filler: int = 0, spec_dir: Path | None = None, journal: str = "delete") -> str:
    """A real sweep database with study ``tiny`` and one trial; ``filler`` rows of padding make it
    big enough to truncate. Closed, checkpointed to one file (no -wal), in the ``journal`` mode."""
    url = f"sqlite:///{path}"
    spec = load_spec(write(spec_dir or path.parent, GOOD, f"{path.stem}.yaml"))
    store = Store(url)
    sid = store.ensure_study(spec.study, spec).id
    store.trial_queued(sid, 0, spec.resolve_trial({"mask_type": "AM", "hidden_size": 32, "train.lr": 1e-3}))
    store.update_trial(sid, 0, status="complete", objective_value=7.5)
    store.engine.dispose()
    with sqlite3.connect(path) as c:
        c.execute("create table padding (x text)")
        c.executemany("insert into padding values (?)", [("x" * 200,)] * filler)
    c.close()
    with sqlite3.connect(path) as c:
        c.execute(f"pragma journal_mode={journal}")
    c.close()
    return url


def _broken_urls(tmp: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    (tmp / "random.db").write_bytes(os.urandom(8192))
    full = tmp / "full.db"
    _study_db(full, filler=3000)
    data = full.read_bytes()
    (tmp / "half.db").write_bytes(data[: len(data) // 2])
    (tmp / "folder.db").mkdir()
    return [
        ("unreachable", f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/db", ("cannot reach the database server",)),
        ("dialect", "foo://x", ("unknown database dialect",)),
        ("driver", f"postgresql+nodriver://u:{SECRET}@h/db", ("unknown database dialect or driver",)),
        ("port", f"postgresql://u:{SECRET}@localhost:99999/db", ("port 99999",)),
        ("port-text", f"postgresql://u:{SECRET}@localhost:abc/db", ("not an SQLAlchemy URL",)),
        ("no-folder", "sqlite:////nonexistent-sweep-dir/dir/x.db", ("no folder /nonexistent-sweep-dir/dir",)),
        ("folder", f"sqlite:///{tmp / 'folder.db'}", ("is a folder",)),
        ("random-bytes", f"sqlite:///{tmp / 'random.db'}", ("is not a SQLite database",)),
        ("truncated", f"sqlite:///{tmp / 'half.db'}", ("corrupt or truncated",)),
    ]


def test_every_storage_problem_is_one_line_and_exit_2_for_status_report_and_launch(tmp_path, capsys):
    spec = write(tmp_path, BAD_DATA)
    commands = (["status"], ["status", "tiny"], ["report", "tiny", "-o", str(tmp_path / "r.html")],
                ["launch", str(spec)], ["resume", "tiny"])
    for case, url, words in _broken_urls(tmp_path):
        before = sorted(p.name for p in tmp_path.iterdir())
        for argv in commands:
            try:
                rc, _, err = _cli(capsys, *argv, "--storage", url)
            except Exception as exc:  # noqa: BLE001 - the old code let these through as tracebacks
                pytest.fail(f"{case} {argv}: {type(exc).__name__}: {exc}")
            _one_line_exit_2(rc, err, *words)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, case  # nothing created, no report
    assert not Path("/nonexistent-sweep-dir").exists()


@pytest.mark.parametrize("argv", [["status"], ["report", "tiny"], ["launch", "SPEC"]])
def test_an_unreachable_server_through_python_m_sweep(tmp_path, argv):
    argv = [str(write(tmp_path, BAD_DATA)) if a == "SPEC" else a for a in argv]
    proc = subprocess.run([sys.executable, "-m", "sweep", *argv, "--storage",
                           f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/db"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    _one_line_exit_2(proc.returncode, proc.stderr, "u:***@127.0.0.1:1", "Connection refused")
    assert SECRET not in proc.stdout


@pytest.mark.parametrize("argv, rc, words", [
    (["status", "nope"], 2, "no study named 'nope': there is no database at"),
    (["report", "nope"], 2, "no study named 'nope': there is no database at"),
    (["resume", "nope"], 2, "no study named 'nope': there is no database at"),
    (["status"], 0, "no studies (no database at"),
])
def test_reading_an_unknown_study_creates_no_database(tmp_path, capsys, monkeypatch, argv, rc, words):
    monkeypatch.chdir(tmp_path)
    got, out, err = _cli(capsys, *argv, "--storage", f"sqlite:///{tmp_path / 'new.db'}")
    assert list(tmp_path.iterdir()) == []  # no new.db, no -wal/-shm, no reports/
    assert got == rc and words in (err if rc else out), (out, err)
    if rc:
        _one_line_exit_2(got, err)


def test_status_and_report_read_a_read_only_database(tmp_path, capsys):
    """root ignores chmod, so the read-only open is also simulated with SQLite's mode=ro."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "sweep.db"
    _study_db(db, spec_dir=tmp_path)
    with sqlite3.connect(db) as c:  # an older release: no budget or data_root (kept in the JSON), no utterance table
        c.execute("alter table sweep_study drop column budget")
        c.execute("alter table sweep_study drop column data_root")
        c.execute("update sweep_study set dataset = '{\"kind\": \"default\", \"data_root\": \"/data/c\"}'")
        c.execute("drop table sweep_utterance")
    c.close()
    before = db.read_bytes()
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        url = f"sqlite:///file:{db}?mode=ro&uri=true"
        rc, out, err = _cli(capsys, "status", "--storage", url)
        assert rc == 0 and "tiny [upit, tpe]: 1/3 finished (1 complete" in out and "best valid SI-SNRi" in out, err
        assert Store(url, write=False).study("tiny").data_root == "/data/c"
        report = tmp_path / "tiny.html"
        rc, out, err = _cli(capsys, "report", "tiny", "-o", str(report), "--storage", url)
        assert rc == 0 and report.is_file() and err == "", err
        rc, out, err = _cli(capsys, "status", "--storage", f"sqlite:///{db}")  # a writable URL: still no write
        assert rc == 0 and "tiny [upit, tpe]" in out, err
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert db.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["sweep.db"]


NO_ROOT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                    "--inh-caps=-dac_override,-dac_read_search", "--"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="root without its permission override")
def test_status_and_report_read_a_wal_database_in_a_read_only_folder(tmp_path):
    """A real read-only folder (root made to honour permissions): a WAL database cannot make its
    -shm file there, so the reader falls back to an immutable open."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "sweep.db"
    url = _study_db(db, spec_dir=tmp_path, journal="wal")
    before = db.read_bytes()
    db.chmod(0o444)
    folder.chmod(0o555)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        denied = subprocess.run(NO_ROOT_OVERRIDE + [sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"],
                                capture_output=True, env=env)
        assert denied.returncode != 0  # the folder really is read-only to the commands below
        for argv in (["status"], ["status", "tiny"], ["report", "tiny", "-o", str(tmp_path / "t.html")]):
            proc = subprocess.run(NO_ROOT_OVERRIDE + [sys.executable, "-m", "sweep", *argv, "--storage", url],
                                  capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
            assert proc.returncode == 0 and proc.stderr == "", proc.stderr
            assert argv[0] == "report" or "tiny [upit, tpe]: 1/3 finished (1 complete" in proc.stdout
        assert (tmp_path / "t.html").is_file()
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert db.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["sweep.db"]


def test_report_to_a_folder_is_one_line_and_leaves_no_temporary_file(tmp_path, capsys):
    from sweep.report.page import write_report

    url = _study_db(tmp_path / "s.db")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, _, err = _cli(capsys, "report", "tiny", "-o", str(out_dir), "--storage", url)
    _one_line_exit_2(rc, err, "is a folder")
    with pytest.raises(OSError):  # write_report itself cleans up after a failed rename
        write_report(Store(url, write=False), "tiny", out_dir)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert list(out_dir.iterdir()) == []


def _first_launch(url: str, spec, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        results.put(("ok", Store(url).ensure_study(spec.study, spec).id))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test with it
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def test_two_first_launches_on_a_new_database_do_not_collide(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    ctx = multiprocessing.get_context("fork")
    for rep in range(5):
        url = f"sqlite:///{tmp_path / f'race{rep}.db'}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_first_launch, args=(url, spec, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        got = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert [g[0] for g in got] == ["ok", "ok"], got
        assert got[0][1] == got[1][1]
        assert [s.name for s in Store(url, write=False).studies()] == ["tiny"]


# -- a real PostgreSQL server that checks passwords ------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_with_password():
    """Like tests/test_postgres.py's server, but with password authentication (that one trusts)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL server not installed (bash scripts/setup.sh --test)")
    bindir = found[-1].parent
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="sweep-pgpw-"))
    os.chmod(base, 0o755)
    (base / "pw").write_text("right-password\n")
    if as_user:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(base / "pw", "postgres", "postgres")
    data, port = base / "data", _free_port()
    subprocess.run(as_user + [str(bindir / "initdb"), "-D", str(data), "-U", "sweep", "--auth=scram-sha-256",
                              f"--pwfile={base / 'pw'}"], check=True, capture_output=True)
    subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "start",
                              "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1"],
                   check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_a_wrong_password_is_one_line_and_exit_2(tmp_path, capsys, postgres_with_password):
    spec = write(tmp_path, BAD_DATA)
    url = f"postgresql+psycopg2://sweep:{SECRET}@{postgres_with_password}/postgres"
    for argv in (["status"], ["status", "tiny"], ["report", "tiny"], ["launch", str(spec)], ["resume", "tiny"]):
        rc, _, err = _cli(capsys, *argv, "--storage", url)
        _one_line_exit_2(rc, err, "the server refused the login", "sweep:***@")
    rc, out, err = _cli(capsys, "status", "--storage", url.replace(SECRET, "right-password"))
    assert rc == 0 and out.startswith("no studies"), err
