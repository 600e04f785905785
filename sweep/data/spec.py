"""The ``dataset:`` section of a search-space YAML: :data:`DatasetSpec` and :func:`parse_dataset`.

The keys every kind shares are :data:`COMMON`; each kind adds its own (:mod:`sweep.data.registry`).
``DatasetSpec`` is a frozen dataclass with one field per key, built from both when this module
is imported, so a new kind's keys need no edit here. See docs/datasets.md for every key.
"""

from __future__ import annotations

import dataclasses
import yaml

from sweep.data.constants import LEVEL_DBFS, LEVELS, N_TEST, N_TRAIN, N_VALID, NOISE_SNR_DB, REL_LEVEL_DB
from sweep.data.registry import Option, freeze_options, kinds
from sweep.spec_nodes import Reader, join

__all__ = ["COMMON", "DATASET_KINDS", "DatasetSpec", "parse_dataset"]

SAMPLE_RATES = (8000, 16000)

COMMON = (
    Option("kind", str, "default", "which reader: one of the registered kinds"),
    Option("root", str, None, "the corpus (None: the embedded default under the data cache)"),
    Option("seed", int, 0, "fixes everything the data layer draws",
           rule=lambda v: None if 0 <= v < 2**31 else f"must be in [0, 2**31), got {v!r}"),
    Option("n_train", int, N_TRAIN, "training mixtures (speakers: per epoch)", positive=True),
    Option("n_valid", int, N_VALID, "validation mixtures", positive=True),
    Option("n_test", int, N_TEST, "mixtures per test condition", positive=True),
    Option("sample_rate", int, 8000, "Hz, what the model sees", positive=True,
           rule=lambda v: None if v in SAMPLE_RATES else "8000 or 16000 (Hz)"),
    Option("resample", bool, False, "allow files at another rate (resampled on load)"),
    Option("level", str, "active", "per-source normalisation of mixing", choices=LEVELS),
    Option("level_dbfs", float, LEVEL_DBFS, "each source's level before the relative gains"),
    Option("rel_level_db", float, REL_LEVEL_DB, "sources' levels spread over [0, rel_level_db] dB",
           rule=lambda v: None if v >= 0 else f"must be >= 0, got {v!r}"),
    Option("noise_snr_db", tuple, NOISE_SNR_DB, "speech-to-noise ratio range, dB"),
)


def _options() -> dict[str, Option]:
    out: dict[str, Option] = {}
    for o in COMMON + freeze_options():
        if o.name in out:
            raise ValueError(f"dataset key {o.name!r} is declared twice (a kind's option clashes)")
        out[o.name] = o
    return out


OPTIONS = _options()
DATASET_KINDS = tuple(kinds())
DatasetSpec = dataclasses.make_dataclass(
    "DatasetSpec", [(o.name, o.annotation, dataclasses.field(default=o.default)) for o in OPTIONS.values()],
    frozen=True, namespace={"__module__": __name__, "__doc__": (
        "Where the mixtures come from: one field per ``dataset`` key (COMMON, then each kind's options); "
        "see docs/datasets.md.")})


def parse_dataset(r: Reader, node: yaml.Node) -> DatasetSpec:
    """The ``dataset`` mapping at ``node``; every error names ``file:line: dataset.key``."""
    items = r.mapping(node, "dataset")
    r.check_keys(items, OPTIONS, "dataset")
    values = {name: OPTIONS[name].parse(r, vnode, join("dataset", name)) for name, (_, vnode) in items.items()}
    kind = values.get("kind", "default")
    known = kinds()
    if kind not in known:
        raise r.fail(items["kind"][1], "dataset.kind", f"unknown dataset kind {kind!r} (known: {', '.join(known)})")
    if not known[kind].generated and "root" not in values:
        raise r.fail(node, "dataset.root", f"a {kind} dataset needs its root folder")
    return DatasetSpec(**values)
