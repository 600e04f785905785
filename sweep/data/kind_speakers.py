"""Dataset kind ``speakers``: any folder (or CSV manifest) of single-speaker recordings
(:mod:`sweep.data.speakers`). Training mixtures are made on the fly (dynamic mixing); the
validation and test mixtures are fixed by the seed and written once into the data cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sweep.data.check import DataError, DataPlan, SplitInfo, checked_file, system_folder
from sweep.data.constants import EVAL_SPLITS, FOLDER, ProgressFn
from sweep.data.prepare import cached_root, recipe_of
from sweep.data.registry import DatasetKind, Option, register
from sweep.data.speakers import Utterance, read_pool, scan_audio, scan_speakers, split_speakers, write_pool

OPTIONS = (
    Option("unseen_speakers", float, 0.25, "fraction of the speakers kept for the open condition", positive=True,
           rule=lambda v: None if v < 1 else f"a fraction of the speakers, in (0, 1), got {v!r}"),
    Option("min_utterances", int, 3, "fewer than this is an error (train/valid/test split)", positive=True),
    Option("noise", str, None, "a folder of noise recordings (optional)"),
)
TRAIN_POOL, NOISE_POOL = "train_pool.csv", "noise_pool.csv"  # in the prepared root


def _check(ds, root: Path, n_src: int) -> DataPlan:
    utts = scan_speakers(root)
    if not utts:
        raise DataError(f"{root}: not a speakers corpus: no .wav or .flac files under it (expected "
                        "root/SPEAKER/.../*.flac or *.wav, or a CSV manifest)")
    checked = []
    for u in utts:
        rate, frames = checked_file(Path(u.path), ds)
        checked.append(dataclasses.replace(u, frames=frames, rate=rate))
    parts = split_speakers(checked, ds.seed, ds.unseen_speakers, ds.min_utterances, n_src)
    counts = {"train": ds.n_train, "valid": ds.n_valid, "closed": ds.n_test, "open": ds.n_test}
    splits = {}
    for name, mine in parts.items():
        splits[name] = SplitInfo(name, utterances=mine, seconds=[u.frames / u.rate for u in mine],
                                 rates={u.rate for u in mine}, speakers={u.speaker for u in mine},
                                 mixtures=counts[name])
    return DataPlan(ds, n_src, root.resolve(), splits, _noise(ds))


def _noise(ds) -> list[Utterance]:
    if not ds.noise:
        return []
    folder = Path(ds.noise).expanduser()
    reason = system_folder(folder)
    if reason:
        raise DataError(f"{folder}: {reason}, not a folder of noise recordings (dataset.noise)")
    if not folder.is_dir():
        raise DataError(f"{folder}: missing folder (dataset.noise)")
    noise = []
    for p in scan_audio(folder):
        rate, frames = checked_file(p, ds)
        noise.append(Utterance(str(p), "noise", frames, rate))
    if not noise:
        raise DataError(f"{folder}: no .wav or .flac files (dataset.noise)")
    return noise


def _fill(plan: DataPlan, out: Path, progress: ProgressFn | None) -> None:
    from sweep.data.mixing import write_fixed_split

    ds = plan.spec
    write_pool(out / TRAIN_POOL, plan.splits["train"].utterances)
    write_pool(out / NOISE_POOL, plan.noise)
    for tag, name in enumerate(EVAL_SPLITS):  # the tag keeps the three splits' draws apart
        split = plan.splits[name]
        if progress:
            progress(f"{FOLDER[name]} mixtures", 0, split.mixtures)
        write_fixed_split(out / FOLDER[name], split.utterances, split.mixtures, plan.n_src, ds.sample_rate,
                          ds.seed, tag, recipe_of(ds), plan.noise or None)
        if progress:
            progress(f"{FOLDER[name]} mixtures", split.mixtures, split.mixtures)


def _prepare(plan: DataPlan, cache_dir: Path, progress: ProgressFn | None) -> Path:
    return cached_root(plan, cache_dir, progress, _fill)


def _train_set(root: Path, meta: dict, *, n_src, segment, sample_rate, seed, dynamic, recipe):
    from sweep.data.dynamic import DynamicMixDataset

    return DynamicMixDataset(read_pool(root / TRAIN_POOL), n_src, segment, sample_rate, int(meta["n_train"]), seed,
                             dynamic, recipe, read_pool(root / NOISE_POOL))


KIND = register(DatasetKind(
    "speakers", "a folder (or CSV manifest) of single-speaker recordings", OPTIONS, check=_check,
    prepare=_prepare, train_set=_train_set, dynamic_default=True))
