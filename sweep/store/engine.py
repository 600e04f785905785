"""Opening a database: an engine for any SQLAlchemy URL, one-line errors for every way a database
can fail to open or to answer (:class:`StorageError`), and bringing an older schema up to date.

Opening writes nothing: a SQLite file is created by the first write (:func:`prepare_folder` and
:func:`upgrade`), and a reader can ask :func:`missing_database` before it connects, so reading a
database that is not there never creates it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import quote

from sqlalchemy import MetaData, create_engine, event, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url

from sweep.store.migrations import SCRIPT_LOCATION, VERSION_TABLE
from sweep.store.tables import SCHEMA_VERSION, Base

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

SQLITE_BUSY_TIMEOUT_S = 60  # one value for our engine and Optuna's (sweep.driver.searcher)
# A concurrent first open may create a table, index or column between our look and our DDL. Each
# lost race means the other process got further, so the attempts are bounded by the DDL statements.
UPGRADE_ATTEMPTS = 20


class StorageError(RuntimeError):
    """The database cannot be opened, read or written. The message is one line and never shows
    the URL's password."""


def safe_url(url: str) -> str:
    """The storage URL with its password hidden, for anything printed."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse: drop its userinfo, keep the rest
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if "@" in rest else url


def parse_url(url: str) -> URL:
    """The parsed URL, or StorageError if it is not one (or names an impossible port)."""
    try:
        parsed = make_url(url)
    except (sa_exc.ArgumentError, ValueError):
        raise StorageError(f"{safe_url(url)!r} is not an SQLAlchemy URL (e.g. sqlite:///sweep.db)") from None
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StorageError(f"{safe_url(url)}: port {parsed.port} is out of range (1-65535)")
    return parsed


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (plain path or ``file:`` URI); None for an in-memory database or another dialect."""
    parsed = parse_url(url)
    db = parsed.database
    if parsed.get_backend_name() != "sqlite" or not db or db == ":memory:":
        return None
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and db.startswith("file:"):
        if parsed.query.get("mode") == "memory":
            return None
        db = db[len("file:"):]
        db = db[2:] if db.startswith("//") else db  # file:///abs/path has an empty authority
    return Path(db)


def engine_kwargs(url: str) -> dict:
    """Connection arguments both our engine and Optuna's RDBStorage use. A server's connections
    are checked before each use (``pool_pre_ping``): after a server restart the pool's old
    connections are dead, and the driver's next write would fail on one instead of reconnecting."""
    return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}} if url.startswith("sqlite") else {"pool_pre_ping": True}


def make_engine(url: str | URL, write: bool = True) -> Engine:
    """An engine for any SQLAlchemy URL (connects to nothing yet); SQLite gets a busy timeout, and
    WAL journaling when opened for writing. StorageError for an unknown dialect or driver."""
    parsed = url if isinstance(url, URL) else parse_url(url)
    try:
        engine = create_engine(parsed, **engine_kwargs(parsed.drivername))
    except sa_exc.NoSuchModuleError:
        raise StorageError(f"{safe_url(url)}: unknown database dialect or driver {parsed.drivername!r} "
                           "(e.g. sqlite, postgresql+psycopg2)") from None
    except ImportError as exc:
        raise StorageError(f"{safe_url(url)}: the driver of {parsed.drivername!r} is not installed "
                           f"(no module {exc.name!r})") from None
    if parsed.get_backend_name() == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:  # pragma: no cover - trivial
            cur = conn.cursor()
            if write:  # switching the journal writes the file: never on a read-only open
                _journal_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def _journal_wal(cur) -> None:
    """Switch to WAL journaling. Two processes opening a new file at once may find it locked for a
    moment, and SQLite does not wait out its busy timeout for this switch, so we do."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- errors ---------------------------------------------------------------------------------
DB_ERRORS = (sa_exc.DBAPIError, sa_exc.ArgumentError, sa_exc.NoSuchModuleError, sqlite3.Error)


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn a database failure inside the block into a one-line :class:`StorageError`."""
    try:
        yield
    except DB_ERRORS as exc:
        raise storage_error(exc, url) from None


def storage_error(exc: BaseException, url: str) -> StorageError:
    """A one-line StorageError that says what went wrong with the database at ``url``."""
    detail = _first_line(getattr(exc, "orig", None) or exc)
    try:
        path = sqlite_file(url)
    except StorageError as bad:
        return bad
    reason = _sqlite_reason(detail, path) if path is not None else _server_reason(detail)
    message = reason if path is not None and reason != detail else f"database {safe_url(url)}: {reason}"
    password = _password(url)
    return StorageError(message.replace(password, "***") if password and len(password) > 3 else message)


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _password(url: str) -> str | None:
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001
        return None
    return None if password is None else str(password)


def _sqlite_reason(detail: str, path: Path) -> str:
    low = detail.lower()
    if "unable to open database file" in low:
        if path.is_dir():
            return f"{path} is a folder, not a database file"
        if not path.parent.is_dir():
            return f"no folder {path.parent} for the database file {path.name}"
        if not path.exists():
            return f"no database at {path}"
        return f"cannot open the database file {path} (check its permissions)"
    if "file is not a database" in low:
        return f"{path} is not a SQLite database (a corrupt file, or another kind of file)"
    if "malformed" in low:
        return f"the database file {path} is corrupt or truncated ({detail})"
    if "readonly" in low or "read-only" in low:
        return f"the database {path} is read-only ({detail})"
    if "locked" in low:
        return f"the database {path} is locked by another process ({detail})"
    return detail


def _server_reason(detail: str) -> str:
    low = detail.lower()
    if "authentication failed" in low or "password" in low:
        return f"the server refused the login ({detail})"
    if any(w in low for w in ("could not connect", "connection refused", "could not translate host name",
                              "timeout expired", "no route to host", "name or service not known")):
        return f"cannot reach the database server ({detail})"
    return detail


# -- existence, without creating anything -----------------------------------------------------
def missing_database(url: str) -> bool:
    """True when the URL names a SQLite file that is not there (nothing is created by asking);
    StorageError when a folder stands where the file should be."""
    path = sqlite_file(url)
    if path is None:
        return False
    if path.is_dir():
        raise StorageError(f"{path} is a folder, not a database file")
    return not path.exists()


def prepare_folder(url: str) -> None:
    """Before the first write: create the folder of a relative SQLite path (an absolute path's
    folder must exist already)."""
    path = sqlite_file(url)
    if path is not None and not path.is_absolute():
        path.parent.mkdir(parents=True, exist_ok=True)


def immutable_sqlite(url: str, exc: BaseException) -> URL | None:
    """Where a read-only open of an existing SQLite file failed because its folder is read-only (a
    WAL database needs to create its -shm file there), the same file opened as immutable: nobody
    can be writing it, as no writer could create its -wal there either. None for other failures."""
    path = sqlite_file(url)
    low = str(getattr(exc, "orig", None) or exc).lower()
    if path is None or not path.is_file() or not ("readonly" in low or "unable to open" in low):
        return None
    return URL.create("sqlite", database="file:" + quote(str(path.resolve()), safe="/"),
                      query={"mode": "ro", "immutable": "1", "uri": "true"})


def probe(url: str) -> None:
    """Check that ``url`` can be used, creating and writing nothing: the URL, its dialect and driver,
    the server (connect and log in), or the SQLite file (a folder, a missing absolute folder, a file
    that is not a database or is truncated). Raises StorageError."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        if path.is_absolute() and not path.parent.is_dir():
            raise StorageError(f"no folder {path.parent} for the database file {path.name}")
        return
    with storage_errors(url):
        engine, _ = read_columns(make_engine(url, write=False), url, write=False)
    engine.dispose()


# -- schema -----------------------------------------------------------------------------------
# The schema's history is alembic migrations (sweep/store/migrations, docs/store.md) with their own
# version table: Optuna's tables in the same database keep theirs in alembic's default one.
PG_UPGRADE_LOCK = zlib.crc32(VERSION_TABLE.encode())  # pg_advisory_xact_lock key: upgraders take turns


def existing_columns(engine: Engine) -> dict[str, set[str]]:
    """The ``sweep_*`` tables the database has, each with the names of its columns; under
    :data:`VERSION_TABLE`, the schema revisions it is stamped with instead (one, or none while an
    interrupted first upgrade left it empty), so :func:`up_to_date` needs no second look."""
    inspector = inspect(engine)
    names = set(inspector.get_table_names())
    have = {t.name: {c["name"] for c in inspector.get_columns(t.name)}
            for t in Base.metadata.sorted_tables if t.name in names}
    if VERSION_TABLE in names:
        with engine.connect() as conn:
            have[VERSION_TABLE] = stamped_revisions(conn)
    return have


def stamped_revisions(conn: Connection) -> set[str]:
    """The revisions in our version table: one normally; alembic would keep one per branch."""
    return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def read_columns(engine: Engine, url: str, write: bool) -> tuple[Engine, dict[str, set[str]]]:
    """:func:`existing_columns` through ``engine``; a reader of a SQLite file in a read-only folder
    falls back to an immutable open of it (see :func:`immutable_sqlite`), returned in its place."""
    try:
        return engine, existing_columns(engine)
    except sa_exc.OperationalError as exc:
        fallback = None if write else immutable_sqlite(url, exc)
        if fallback is None:
            raise
    engine.dispose()
    engine = make_engine(fallback, write=False)
    return engine, existing_columns(engine)


def up_to_date(have: dict[str, set[str]]) -> bool:
    """At this release's schema revision, with a column for every ORM column (a test metric added
    to the registry since the last migration included)."""
    return (have.get(VERSION_TABLE) == {SCHEMA_VERSION}
            and all(c.name in have.get(t.name, ()) for t in Base.metadata.sorted_tables for c in t.columns))


def upgrade(engine: Engine) -> None:
    """Bring the database to this release's schema: a new one gets every migration, one that 0.1
    made (no version table) is stamped with the 0.1 revision first, and then the nullable columns
    the test-metric registry added since the last migration (see :func:`add_missing_columns`).

    All of it is one transaction holding the database's write lock, so two first launches take
    turns and the second finds the work done. Where a database can neither lock nor roll back DDL
    (another process got ahead between our look and our DDL: "already exists", or a duplicate row
    in the version table), the loser looks again: each lost race means the other got further.
    StorageError for a database that a newer release upgraded."""
    for attempt in range(UPGRADE_ATTEMPTS):
        try:
            _upgrade_once(engine)
            return
        except (sa_exc.OperationalError, sa_exc.ProgrammingError, sa_exc.IntegrityError) as exc:
            text_ = str(exc).lower()
            lost_race = any(s in text_ for s in ("already exists", "duplicate", "unique constraint failed"))
            if attempt + 1 == UPGRADE_ATTEMPTS or not lost_race:
                raise
            time.sleep(0.02 * (attempt + 1))  # let the other process finish its statement


def _upgrade_once(engine: Engine) -> None:
    from alembic import command

    with _upgrade_transaction(engine) as conn:
        broken = _broken_foreign_keys(conn)
        if _adopt(conn) != SCHEMA_VERSION:
            command.upgrade(alembic_config(conn), "head")
        add_missing_columns(conn, Base.metadata)
        if _broken_foreign_keys(conn) > broken:
            raise StorageError("the schema upgrade would break foreign keys of the sweep tables; nothing was changed")


def alembic_config(conn: Connection | None = None) -> "AlembicConfig":
    """Alembic's configuration without an alembic.ini: the migrations folder, and the connection
    (inside our transaction) that migrations/env.py runs them on."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = conn
    return cfg


@functools.lru_cache(maxsize=1)
def _migrations() -> "ScriptDirectory":
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def _adopt(conn: Connection) -> str | None:
    """The revision the database is at, after stamping a database that 0.1 made (sweep tables but no
    version table) with revision 0001; None for a database without sweep tables."""
    from alembic import command

    names = set(inspect(conn).get_table_names())
    revisions = stamped_revisions(conn) if VERSION_TABLE in names else set()
    if revisions:
        return _known(revisions)
    release_0_1: MetaData = _migrations().get_revision("0001").module.schema()
    if not names & set(release_0_1.tables):
        return None  # a new database (Optuna's tables may be there already): every migration runs
    # 0.1's first databases had sweep_study alone, without budget, driver and heartbeat_at
    release_0_1.create_all(conn, checkfirst=True)
    add_missing_columns(conn, release_0_1)
    command.stamp(alembic_config(conn), "0001")
    return "0001"


def _known(revisions: set[str]) -> str:
    known = {script.revision for script in _migrations().walk_revisions()}
    if len(revisions) == 1 and revisions <= known:
        return next(iter(revisions))
    raise StorageError(f"the database's sweep schema is at revision {', '.join(sorted(revisions))}, which this "
                       f"sweep (schema {SCHEMA_VERSION}) does not know: a newer release made or upgraded it; "
                       "use that release or a newer one")


def add_missing_columns(conn: Connection, metadata: MetaData) -> None:
    """Add the nullable columns of ``metadata`` that its existing tables lack.

    Run after the migrations with the ORM's metadata: the store makes one column per test metric
    of :data:`sweep.scoring.registry.TEST_METRICS`, so a metric added to the registry reaches
    every database this way, without a migration. Only nullable columns: their old rows need no
    value. A column that needs one, a new table, an index or a data move is a migration."""
    inspector = inspect(conn)
    names = set(inspector.get_table_names())
    ident = conn.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        if table.name not in names:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name not in have and col.nullable:
                kind = col.type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {ident(table.name)} ADD COLUMN {ident(col.name)} {kind}"))


@contextlib.contextmanager
def _upgrade_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction for the whole upgrade, holding the database's write lock from its first
    statement: a second upgrader waits for it, then finds the work done (SQLite: BEGIN IMMEDIATE,
    whose wait is the busy timeout; PostgreSQL: a transaction-scoped advisory lock)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            with _sqlite_immediate(conn):
                yield conn
            return
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_UPGRADE_LOCK})
            yield conn


@contextlib.contextmanager
def _sqlite_immediate(conn: Connection) -> Iterator[None]:
    """Python's sqlite3 begins a transaction only before INSERT/UPDATE/DELETE, so DDL would commit
    statement by statement; with the driver's own transaction handling off, we say BEGIN IMMEDIATE.
    Foreign keys are off meanwhile: a migration that copies a parent table (alembic's batch mode)
    drops it, and SQLite ignores that pragma inside a transaction (:func:`_broken_foreign_keys`
    checks the result instead)."""
    raw = conn.connection.dbapi_connection
    saved = raw.isolation_level
    raw.isolation_level = None
    raw.execute("PRAGMA foreign_keys=OFF")  # outside SQLAlchemy, which would begin a transaction
    try:
        with conn.begin():
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")
        raw.isolation_level = saved


def _broken_foreign_keys(conn: Connection) -> int:
    """Rows of our tables whose foreign key points nowhere (SQLite, whose keys are off during an
    upgrade); compared before and after, so a database that had some already still upgrades."""
    if conn.dialect.name != "sqlite":
        return 0  # the server checks every statement
    names = set(inspect(conn).get_table_names()) & {t.name for t in Base.metadata.sorted_tables}
    return sum(len(conn.exec_driver_sql(f"PRAGMA foreign_key_check({name})").all()) for name in sorted(names))


def split_data_root(dataset: str | None) -> tuple[str, str] | None:
    """Releases before 0.2 kept the resolved corpus folder inside ``sweep_study.dataset``: (that
    folder, the dataset JSON without it), or None when it is not there. Reading an old database
    without upgrading it needs this; upgrading moves it (migration 0002)."""
    try:
        data = json.loads(dataset or "{}")
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("data_root"):
        root = data.pop("data_root")
        return root, json.dumps(data)
    return None
