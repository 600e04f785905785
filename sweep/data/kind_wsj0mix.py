"""Dataset kind ``wsj0mix``: a wsj0-2mix / wsj0-3mix ``wav8k|wav16k/min|max`` folder (``tr``,
``cv``, ``tt``; ``tt_closed`` if present, else ``cv`` is the closed condition, as in uPIT)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from sweep.data.check import DataError, DataPlan, SplitInfo, check_records, wsj0mix_records, wsj0mix_speakers
from sweep.data.constants import FOLDER, SPLITS, ProgressFn
from sweep.data.prepare import cached_root, fill_records
from sweep.data.registry import DatasetKind, register


def _check(ds, root: Path, n_src: int) -> DataPlan:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (dataset.root)")
    closed = root / FOLDER["closed"]
    folders = {name: root / FOLDER[name] for name in SPLITS}
    if not closed.is_dir():
        folders["closed"] = root / FOLDER["valid"]
    splits = {}
    for name in SPLITS:
        recs = wsj0mix_records(folders[name], n_src)
        split = SplitInfo(name, records=recs)
        check_records(split, ds)
        split.speakers = {s for spk in wsj0mix_speakers(folders[name], recs, n_src).values() for s in spk}
        splits[name] = split
    return DataPlan(ds, n_src, root.resolve(), splits,
                    source="" if closed.is_dir() else "cv, as in the uPIT paper (no tt_closed)")


def _prepare(plan: DataPlan, cache_dir: Path, progress: ProgressFn | None) -> Path:
    if not plan.needs_resampling:
        return plan.root  # trials read the corpus in place
    return cached_root(plan, cache_dir, progress, partial(fill_records, link_train_root=True))


KIND = register(DatasetKind(
    "wsj0mix", "a wsj0-2mix / wsj0-3mix wav8k|wav16k/min|max folder", check=_check, prepare=_prepare))
