"""The next release opens this release's database: a database that release 0.1 made (its own code
wrote tests/fixtures/release_0_1.sql) opens, upgrades through the alembic migrations, reports
and resumes; a new database comes out exactly as the ORM says; upgrading is idempotent and safe
for two processes at once; PostgreSQL takes the same path."""

from __future__ import annotations

import io
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from sweep.spec import Spec
from sweep.store import StorageError, Store
from sweep.store.engine import alembic_config, make_engine, upgrade
from sweep.store.migrations import VERSION_TABLE, include_name
from sweep.store.tables import SCHEMA_VERSION, Base
from tests.test_postgres import postgres_url  # noqa: F401 - the module-scoped server fixture
from tests.test_store import _old_database

FIXTURE = Path(__file__).parent / "fixtures" / "release_0_1.sql"
OPTUNA_REVISION = "v3.2.0.a"  # Optuna's own alembic revision in the fixture: ours must not touch it


def release_0_1(path: Path, data_root: Path) -> str:
    """The fixture as a SQLite file whose study reads its corpus from ``data_root``."""
    script = FIXTURE.read_text().replace("@DATA_ROOT@", str(data_root))
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()
    return f"sqlite:///{path}"


def rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(text(sql))]
    engine.dispose()
    return out


def schema_diff(url: str) -> list:
    """What alembic's autogenerate would still change to make our tables the ORM's (none: equal)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    return diff


def columns(url: str) -> dict[str, set[tuple[str, str, bool]]]:
    """Our tables' columns as (name, type, nullable), to compare two databases."""
    engine = create_engine(url)
    insp = inspect(engine)
    out = {t: {(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)}
           for t in insp.get_table_names() if t.startswith("sweep_") and t != VERSION_TABLE}
    engine.dispose()
    return out


@pytest.fixture
def old_url(tmp_path) -> str:
    return release_0_1(tmp_path / "old.db", tmp_path / "corpus")


# -- release 0.1's own database --------------------------------------------------------------
def test_a_0_1_database_upgrades_on_first_use_and_keeps_its_trials(old_url, tmp_path):
    assert rows(old_url, "SELECT name FROM sqlite_master WHERE name = 'sweep_alembic_version'") == []
    store = Store(old_url)
    row = store.study("old")  # the first use of a writable store upgrades
    assert rows(old_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]
    assert rows(old_url, "SELECT version_num FROM alembic_version") == [(OPTUNA_REVISION,)]
    assert schema_diff(old_url) == []

    assert row.data_root == str(tmp_path / "corpus") and "data_root" not in json.loads(row.dataset)
    assert row.n_trials == 3 and row.code_version == "0.1.0+16a7da8" and row.torch_version is None
    trials = store.trials(row.id)
    assert [(t.number, t.status, t.mask) for t in trials] == [(0, "complete", "AM"), (1, "complete", "NPSM")]
    assert all(t.params["hidden_size"] == 32 and t.objective_value == t.valid_si_snri is not None for t in trials)
    frames, results, epochs = store.frames("old")
    assert len(frames) == 2 and len(epochs) == 2 and len(results) == 8 and results["si_snri"].notna().all()
    assert len(store.utterance_frame("old")) == 16 and len(store.oracle_frame(str(tmp_path / "corpus"))) == 8


def test_a_0_1_database_reports(old_url):
    from sweep.report.page import render_report

    html = render_report(Store(old_url), "old")
    assert 'data-trial="0"' in html and 'data-trial="1"' in html and "NPSM" in html


def test_a_0_1_study_resumes_with_this_release(old_url):
    import optuna

    from sweep.driver.launch import open_study, spec_for_study
    from sweep.store.lease import claim, release

    store = Store(old_url)
    spec = spec_for_study(store, "old")  # 0.1's stored spec parses, with its planned 3 trials
    assert spec.study == "old" and spec.n_trials == 3 and spec.family == "upit"
    sid = store.study("old").id
    claim(store, sid, "here:1")
    assert store.study("old").driver == "here:1"
    _, _, finished, carried = open_study(store, sid, spec, "old", old_url, io.StringIO())  # Optuna's 0.1 tables
    assert finished == 2 and carried == []
    store.add_epoch(sid, 1, 2, 0.5, 1.5, 3.0, objective_value=1.5)  # this release's columns take writes
    store.update_trial(sid, 1, node="here:node", torch_version="x")
    release(store, sid, "here:1")
    assert store.study("old").driver is None and store.trial(sid, 1).objective_value == 1.5
    assert len(optuna.load_study(study_name="old", storage=old_url).trials) == 2


def test_upgrading_again_changes_nothing(old_url):
    store = Store(old_url)
    store.study("old")
    before = "\n".join(sqlite3.connect(old_url[len("sqlite:///"):]).iterdump())
    engine = make_engine(old_url)
    upgrade(engine)
    upgrade(engine)
    engine.dispose()
    assert "\n".join(sqlite3.connect(old_url[len("sqlite:///"):]).iterdump()) == before


def test_an_upgrade_that_fails_leaves_the_database_as_it_was(old_url, monkeypatch):
    import sweep.store.engine as engine_module

    path = old_url[len("sqlite:///"):]
    with sqlite3.connect(path) as conn:  # an orphan the old database already had does not block it...
        conn.execute("INSERT INTO sweep_epoch (trial_id, epoch) VALUES (999, 1)")
    conn.close()
    before = "\n".join(sqlite3.connect(path).iterdump())

    def orphaning(conn, metadata) -> None:  # ...but an upgrade that orphans rows is undone, all of it
        conn.execute(text("DELETE FROM sweep_trial WHERE number = 0"))

    monkeypatch.setattr(engine_module, "add_missing_columns", orphaning)
    with pytest.raises(StorageError, match="foreign keys"):
        Store(old_url).study("old")
    assert "\n".join(sqlite3.connect(path).iterdump()) == before  # no version table, no new column
    monkeypatch.undo()
    assert len(Store(old_url).trials(1)) == 2


def test_two_processes_upgrading_one_0_1_database_at_once_both_succeed(old_url):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_open_after, args=(old_url, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert got == [("ok", 2), ("ok", 2)], got
    assert rows(old_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]


def _open_after(url: str, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        store = Store(url)
        results.put(("ok", len(store.trials(store.study("old").id))))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test with it
        results.put(("error", f"{type(exc).__name__}: {exc}"))


# -- other starting points -------------------------------------------------------------------
def test_a_new_database_is_exactly_the_orm_schema_and_the_migrations_match_create_all(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    Store(url).studies()  # nothing written by reading; a write creates the schema
    assert not (tmp_path / "new.db").exists()
    Store(url).ensure_study("x", _spec())
    assert rows(url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]
    assert schema_diff(url) == []
    reference = f"sqlite:///{tmp_path / 'create_all.db'}"
    Base.metadata.create_all(create_engine(reference))
    assert columns(url) == columns(reference)
    assert set(columns(url)) == {t.name for t in Base.metadata.sorted_tables}


def test_the_oldest_0_1_database_upgrades_too(tmp_path):
    db = tmp_path / "oldest.db"
    _old_database(db, '{"kind": "default", "data_root": "/data/c"}')  # sweep_study alone, no budget
    store = Store(f"sqlite:///{db}")
    row = store.study("old")
    assert row.budget is None and row.data_root == "/data/c" and "data_root" not in row.dataset
    assert rows(f"sqlite:///{db}", f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]
    assert store.trials(row.id) == [] and store.ensure_study("new", _spec("new")).id == 2
    have = columns(f"sqlite:///{db}")
    assert {t: {c[0] for c in cs} for t, cs in have.items()} == {t.name: set(t.c.keys()) for t in Base.metadata.sorted_tables}
    # The only differences left are the hand-made sweep_study's own: no NOT NULL, UNIQUE inline.
    left = {(d[0][0] if isinstance(d, list) else d[0], d[0][2] if isinstance(d, list) else d[1].table.name)
            for d in schema_diff(f"sqlite:///{db}")}
    assert left == {("modify_nullable", "sweep_study"), ("add_constraint", "sweep_study")}


def test_a_test_metric_added_since_the_last_migration_gets_its_column(old_url):
    Store(old_url).study("old")
    with sqlite3.connect(old_url[len("sqlite:///"):]) as conn:  # as if `sar` were new in the registry
        conn.execute("ALTER TABLE sweep_utterance DROP COLUMN sar")
    conn.close()
    store = Store(old_url)
    assert len(store.utterance_frame("old")) == 16
    assert ("sar", "FLOAT", True) in columns(old_url)["sweep_utterance"] and schema_diff(old_url) == []
    assert rows(old_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]


def test_a_database_of_a_newer_release_is_read_but_not_written(old_url):
    Store(old_url).study("old")
    with sqlite3.connect(old_url[len("sqlite:///"):]) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    conn.close()
    assert [s.name for s in Store(old_url, write=False).studies()] == ["old"]
    with pytest.raises(StorageError, match="revision 0099.*newer release"):
        Store(old_url).ensure_study("y", _spec("y"))


def test_the_schema_version_is_the_last_migration_and_has_its_own_version_table():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [SCHEMA_VERSION]
    assert [s.revision for s in script.walk_revisions()][::-1] == ["0001", "0002", "0003", "0004"]
    assert VERSION_TABLE.startswith("sweep_") and VERSION_TABLE != "alembic_version"


def _spec(name: str = "x") -> "Spec":
    """A study spec for ``Store.ensure_study`` (its corpus is never read here)."""
    from sweep.spec import parse_spec
    from tests.conftest import tiny_spec

    return parse_spec(tiny_spec(Path("/nonexistent/corpus"), study=name), f"{name}.yaml")


# -- release 0.2's own database: a study whose driver was killed in its third trial ---------------
FIXTURE_0_2 = Path(__file__).parent / "fixtures" / "release_0_2.sql"


def release_0_2(path: Path, data_root: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE_0_2.read_text().replace("@DATA_ROOT@", str(data_root)))
    conn.close()
    return f"sqlite:///{path}"


def test_a_0_2_database_upgrades_reports_and_continues_the_trial_its_driver_left_running(tmp_path):
    from sweep.driver.launch import open_study, spec_for_study
    from sweep.report.page import render_report
    from sweep.store.lease import claim, release

    url = release_0_2(tmp_path / "old.db", tmp_path / "corpus")
    assert rows(url, f"SELECT version_num FROM {VERSION_TABLE}") == [("0002",)]
    store = Store(url)
    spec = spec_for_study(store, "old")
    sid = store.study("old").id
    assert [(t.number, t.status) for t in store.trials(sid)] == [(0, "complete"), (1, "complete"), (2, "running")]
    assert rows(url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]
    assert not schema_diff(url)
    assert "old" in render_report(store, "old")
    claim(store, sid, "here:1")
    _, _, finished, carried = open_study(store, sid, spec, "old", url, io.StringIO())
    release(store, sid, "here:1")
    assert finished == 2 and [(c.number, c.restore) for c in carried] == [(2, None)]  # 0.2 kept no checkpoint
    row = store.trial(sid, 2)
    assert row.status == "running" and row.epochs_done == 0 and row.error is None  # it starts over
    assert rows(url, "SELECT count(*) FROM sweep_epoch e JOIN sweep_trial t ON e.trial_id = t.id "
                     "WHERE t.number = 2") == [(0,)]


# -- slow: a real resume through Ray, and PostgreSQL -------------------------------------------
@pytest.mark.slow
def test_a_0_1_study_resumes_through_launch(tmp_path, tiny_data, monkeypatch):
    import ray

    from sweep.driver.launch import launch, spec_for_study

    monkeypatch.setenv("SWEEP_RUNS", str(tmp_path / "ray"))
    url = release_0_1(tmp_path / "old.db", tiny_data)
    store = Store(url)
    ours = not ray.is_initialized()
    if ours:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        outcome = launch(spec_for_study(store, "old"), url, out=io.StringIO())
    finally:
        if ours:
            ray.shutdown()
    assert outcome.finished == outcome.planned == 3 and outcome.ran == 1 and outcome.failed == 0
    trials = store.trials(store.study("old").id)
    assert sorted(t.mask for t in trials) == ["AM", "NPSM", "PSM"]  # the grid's last point ran
    new = trials[-1]
    assert new.number == 2 and new.torch_version and new.objective_value is not None
    assert [t.code_version for t in trials[:2]] == ["0.1.0+16a7da8"] * 2


@pytest.mark.slow
def test_postgresql_upgrades_a_0_1_schema(postgres_url):  # noqa: F811 - the imported fixture
    import optuna
    from alembic import command

    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")  # 0.1's tables...
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))  # ...as 0.1's create_all left them: unversioned
        _insert_0_1_rows(conn)
    optuna.create_study(storage=postgres_url, study_name="old")  # Optuna's alembic_version beside
    store = Store(postgres_url)
    row = store.study("old")
    assert row.data_root == "/data/c" and json.loads(row.dataset) == {"kind": "default"}
    assert store.trials(row.id)[0].objective_value == 1.25
    assert rows(postgres_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]
    assert rows(postgres_url, "SELECT count(*) FROM alembic_version") == [(1,)]
    assert schema_diff(postgres_url) == []
    upgrade(engine)  # again: nothing to do
    assert schema_diff(postgres_url) == []
    engine.dispose()


def _insert_0_1_rows(conn) -> None:
    conn.execute(text("INSERT INTO sweep_study (name, family, spec_path, spec_yaml, sampler, scheduler, n_trials, "
                      "seed, dataset, objective, created_at, code_version) VALUES ('old', 'upit', 'x.yaml', 'study: "
                      "old', 'tpe', 'none', 3, 0, :d, 'max valid_si_snri', now(), '0.1.0')"),
                 {"d": '{"kind": "default", "data_root": "/data/c"}'})
    conn.execute(text("INSERT INTO sweep_trial (study_id, number, status, family, params, valid_si_snri, epochs_done, "
                      "seed, code_version, queued_at) SELECT id, 0, 'complete', 'upit', '{}', 1.25, 1, 0, '0.1.0', "
                      "now() FROM sweep_study"))
    conn.execute(text("INSERT INTO sweep_result (trial_id, condition, assignment, si_snri, sdri, n_utterances) "
                      "SELECT id, 'closed', 'optimal', 1.0, 2.0, 2 FROM sweep_trial"))


@pytest.mark.slow
def test_two_first_opens_of_a_new_postgresql_database_take_turns(postgres_url):  # noqa: F811
    from sqlalchemy.engine import make_url

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE race"))
    admin.dispose()
    url = make_url(postgres_url).set(database="race").render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_first_write, args=(url, barrier, results)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [g[0] for g in got] == ["ok"] * 3, got
    assert rows(url, f"SELECT version_num FROM {VERSION_TABLE}") == [(SCHEMA_VERSION,)]
    assert schema_diff(url) == []


def _first_write(url: str, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)
        results.put(("ok", Store(url).ensure_study("x", _spec()).id))
    except Exception as exc:  # noqa: BLE001
        results.put(("error", f"{type(exc).__name__}: {exc}"))
