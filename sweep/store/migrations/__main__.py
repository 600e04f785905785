"""``python -m sweep.store.migrations MESSAGE``: start the next migration (docs/store.md).

There is no alembic.ini, so alembic's own command line has nothing to read; this builds a
scratch SQLite database at the current head (every migration, then the registry's metric
columns, exactly as :func:`sweep.store.engine.upgrade` leaves a real one), lets alembic's
autogenerate compare it with the ORM (:mod:`sweep.store.tables`), and writes
``versions/NNNN_<message>.py`` with the next number. Read and finish that file by hand:
autogenerate sees columns, tables, indexes and constraints, never data to move.
"""

from __future__ import annotations

import sys
import tempfile


def main(argv: list[str] | None = None) -> int:
    from alembic import command

    from sweep.store.engine import alembic_config, make_engine, upgrade

    words = sys.argv[1:] if argv is None else argv
    if not words or words[0].startswith("-"):
        print("usage: python -m sweep.store.migrations MESSAGE   (e.g. 'release 0.3')", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{scratch}/head.db")
        upgrade(engine)
        with engine.begin() as conn:
            cfg = alembic_config(conn)
            head = _head(cfg)
            script = command.revision(cfg, message=" ".join(words), autogenerate=True, rev_id=f"{int(head) + 1:04d}")
        engine.dispose()
    print(f"wrote {script.path}: finish it, then set SCHEMA_VERSION in sweep/store/tables.py to {script.revision!r}")
    return 0


def _head(cfg) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(cfg).get_current_head()


if __name__ == "__main__":
    sys.exit(main())
