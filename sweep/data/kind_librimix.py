"""Dataset kind ``librimix``: a Libri2Mix / Libri3Mix ``wav8k|wav16k/min|max`` folder read
through its metadata CSVs (:mod:`sweep.data.librimix`); the closed condition is ``n_test``
mixtures held out of the training subset."""

from __future__ import annotations

from pathlib import Path

from sweep.data.check import DataError, DataPlan, SplitInfo, check_records
from sweep.data.constants import SPLITS, ProgressFn
from sweep.data.librimix import MIXTURES, SUBSETS, TRAIN_SUBSETS, hold_out, read_metadata, speaker_of
from sweep.data.prepare import cached_root, fill_records
from sweep.data.registry import DatasetKind, Option, register

OPTIONS = (
    Option("subset", str, "train-100", "the LibriMix training subset", choices=TRAIN_SUBSETS),
    Option("mixture", str, "clean", "mix_clean, or mix_both (with WHAM! noise)", choices=MIXTURES),
)


def _check(ds, root: Path, n_src: int) -> DataPlan:
    if not root.is_dir():
        raise DataError(f"{root}: not a folder; dataset.root of a librimix dataset is a LibriMix folder holding "
                        f"metadata/ (e.g. Libri{n_src}Mix/wav8k/min)")
    if not (root / "metadata").is_dir():
        raise DataError(f"{root}: not a LibriMix corpus: no metadata/ folder in it (dataset.root is e.g. "
                        f"Libri{n_src}Mix/wav8k/min, holding metadata/, {ds.subset}/, dev/ and test/)")
    subsets = {"train": ds.subset, **SUBSETS}
    recs = {name: read_metadata(root, sub, ds.mixture, n_src) for name, sub in subsets.items()}
    recs["train"], recs["closed"] = hold_out(recs["train"], ds.n_test, ds.seed)
    splits = {}
    for name in SPLITS:
        split = SplitInfo(name, records=recs[name])
        check_records(split, ds)
        split.speakers = {speaker_of(u) for r in recs[name] for u in r.name.split("_")[:n_src]}
        splits[name] = split
    return DataPlan(ds, n_src, root.resolve(), splits,
                    source=f"{len(recs['closed'])} mixtures held out of {ds.subset}")


def _prepare(plan: DataPlan, cache_dir: Path, progress: ProgressFn | None) -> Path:
    return cached_root(plan, cache_dir, progress, fill_records)


KIND = register(DatasetKind(
    "librimix", "a Libri2Mix / Libri3Mix wav8k|wav16k/min|max folder holding metadata/", OPTIONS,
    check=_check, prepare=_prepare))
