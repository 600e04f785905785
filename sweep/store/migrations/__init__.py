"""The schema's history as alembic migrations, one per release that changed it (``versions/``).

:func:`sweep.store.engine.upgrade` runs them programmatically on the connection it holds; there is
no ``alembic.ini``. Optuna keeps its own alembic history in the same database under alembic's
default version table (``alembic_version``), so ours lives in :data:`VERSION_TABLE`: sharing one
would make each tool read the other's revision as unknown. See docs/store.md, and
``python -m sweep.store.migrations MESSAGE`` to start the next migration.
"""

from __future__ import annotations

from pathlib import Path

VERSION_TABLE = "sweep_alembic_version"
SCRIPT_LOCATION = Path(__file__).resolve().parent  # env.py, script.py.mako and versions/


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate compares only our tables: Optuna's share the database and are not ours to drop,
    and the version table is alembic's bookkeeping."""
    return type_ != "table" or bool(name and name.startswith("sweep_") and name != VERSION_TABLE)
