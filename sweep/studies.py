"""Finding a study in the database by name, without the driver (and so without importing Ray):
``sweep status``, ``report`` and ``resume`` start here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweep.store import Store
from sweep.store.engine import safe_url

if TYPE_CHECKING:  # `sweep status` finds a study without parsing specs
    from sweep.spec import Spec


def spec_for_study(store: Store, name: str) -> Spec:
    """Re-read the spec stored with a study (so ``sweep resume NAME`` needs no file)."""
    from sweep.spec import parse_spec

    row = store.study(name)
    if row is None:
        raise KeyError(no_study_message(store, name))
    return parse_spec(row.spec_yaml, row.spec_path, row.budget)


def no_study_message(store: Store, name: str) -> str:
    if not store.exists():  # a SQLite file that is not there: nothing was created by looking
        return f"no study named {name!r}: there is no database at {safe_url(store.url)}"
    known = ", ".join(s.name for s in store.studies()) or "none"
    return f"no study named {name!r} in this database (known: {known})"
