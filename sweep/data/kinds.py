"""Every dataset kind: importing this module registers them all (see :mod:`sweep.data.registry`).

A new kind is a new ``sweep/data/kind_<name>.py`` that calls ``register(DatasetKind(...))``,
plus its name in the import line below (the order errors and docs list the kinds in).
"""

from sweep.data import kind_default, kind_wsj0mix, kind_librimix, kind_speakers  # noqa: F401,I001

__all__: list[str] = []
