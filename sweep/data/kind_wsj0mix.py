"""Dataset kind ``wsj0mix``: a wsj0-2mix / wsj0-3mix ``wav8k|wav16k/min|max`` folder (``tr``,
``cv``, ``tt``; ``tt_closed`` if present, else ``cv`` is the closed condition, as in uPIT)."""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

from sweep.data.check import DataError, DataPlan, SplitInfo, check_records, wsj0mix_records, wsj0mix_speakers
from sweep.data.constants import FOLDER, SPLITS, ProgressFn
from sweep.data.prepare import cached_root, fill_records
from sweep.data.registry import DatasetKind, register


def _layout(root: Path, n_src: int) -> None:
    """A wsj0-mix root with ``n_src`` sources: checked from its folder names, before any file is read."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; dataset.root of a wsj0mix dataset is a wsj0-mix folder "
                        "holding tr/, cv/, tt/ (e.g. .../2speakers/wav8k/min)")
    splits = [root / FOLDER[name] for name in ("train", "valid", "open") if (root / FOLDER[name]).is_dir()]
    if not splits:
        raise DataError(f"{root}: not a wsj0-mix corpus: no tr/, cv/ or tt/ in it (dataset.root is e.g. "
                        ".../2speakers/wav8k/min)")
    found = {e.name for e in os.scandir(splits[0]) if e.is_dir() and re.fullmatch(r"s[1-9]\d*", e.name)}
    count = max((int(name[1:]) for name in found), default=0)
    if count >= 2 and found == {f"s{k}" for k in range(1, count + 1)} and count != n_src:
        raise DataError(f"{root}: a {count}-speaker corpus ({splits[0].name}/ holds s1..s{count}) but n_src is "
                        f"{n_src}; set n_src: {count} or point at a wsj0-{n_src}mix folder")


def _check(ds, root: Path, n_src: int) -> DataPlan:
    _layout(root, n_src)
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
