"""Opening a database: an engine for any SQLAlchemy URL, and bringing an older schema up to date."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine

from sweep.store.tables import Base

SQLITE_BUSY_TIMEOUT_S = 60  # one value for our engine and Optuna's (sweep.driver.searcher)


def engine_kwargs(url: str) -> dict:
    """Connection arguments both our engine and Optuna's RDBStorage use."""
    return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}} if url.startswith("sqlite") else {}


def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files get a busy timeout and WAL journaling."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **engine_kwargs(url))
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:  # pragma: no cover - trivial
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def upgrade(engine: Engine) -> None:
    """Create missing tables, add the nullable columns that are new since a database was made,
    and move facts that older versions kept in JSON into their columns."""
    Base.metadata.create_all(engine)
    inspector = inspect(engine)
    added: set[tuple[str, str]] = set()
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for col in table.columns:
                if col.name not in have and col.nullable:
                    kind = col.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {kind}'))
                    added.add((table.name, col.name))
        if ("sweep_study", "data_root") in added:
            _data_root_out_of_json(conn)


def _data_root_out_of_json(conn) -> None:
    """Releases before 0.2 kept the resolved corpus folder inside ``sweep_study.dataset``."""
    for sid, dataset in conn.execute(text("SELECT id, dataset FROM sweep_study")).all():
        try:
            data = json.loads(dataset or "{}")
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("data_root"):
            root = data.pop("data_root")
            conn.execute(text("UPDATE sweep_study SET data_root = :r, dataset = :d WHERE id = :i"),
                         {"r": root, "d": json.dumps(data), "i": sid})
