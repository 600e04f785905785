"""Turn a checked corpus into what a trial reads: a root in wsj0-2mix layout.

Every dataset kind ends up as a folder with ``cv``, ``tt`` and (usually) ``tt_closed`` in the
wsj0-2mix layout, so validation and the test protocol (``sweep.scoring.evaluate``) read all kinds the
same way. Each kind's ``prepare`` decides what that folder holds (see the kind modules):

- ``wsj0mix`` at the study's rate: the corpus root itself, untouched (nothing written).
- ``wsj0mix`` at another rate (``resample: true``): a folder in the data cache whose ``tr`` is a
  link to the original and whose ``cv``/``tt``/``tt_closed`` are resampled copies.
- ``librimix``: a folder of links named by mixture id (``tr`` = the training subset minus the
  closed-condition hold-out, ``cv`` = dev, ``tt`` = test); resampled copies when rates differ.
- ``speakers``: fixed ``cv``/``tt_closed``/``tt`` mixtures written once (by the seed) and the
  training utterances listed in ``train_pool.csv`` for dynamic mixing.

What differs is kept in ``dataset.json`` at the top of a built folder (:func:`cached_root`).
:func:`make_datasets` (called inside each trial) reads it and builds the training set (fixed
mixtures, dynamic mixing, or the kind's own ``train_set``) and the validation set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sweep.audio import audio_info, read_audio, resample, write_wav
from sweep.data.cache import file_lock, finish_build, start_build
from sweep.data.check import DataPlan, SplitInfo, wsj0mix_records, wsj0mix_speakers
from sweep.data.constants import FOLDER, ProgressFn
from sweep.data.mixing import MixRecipe
from sweep.data.registry import get_kind
from sweep.data.speakers import Utterance

__all__ = ["prepare_dataset", "cached_root", "fill_records", "recipe_of", "make_datasets", "META"]

META = "dataset.json"  # written last: its presence marks a complete prepared root
VERSION = 1
Filler = Callable[[DataPlan, Path, "ProgressFn | None"], None]  # (plan, folder to fill, progress)


def prepare_dataset(plan: DataPlan, cache_dir: Path, progress: ProgressFn | None = None) -> Path:
    """The root a trial reads for ``plan`` (built in ``cache_dir`` once, reused after)."""
    return get_kind(plan.spec.kind).prepare(plan, Path(cache_dir), progress)


def recipe_of(ds) -> MixRecipe:
    """The mixing recipe a dataset spec sets."""
    return MixRecipe(ds.level, ds.level_dbfs, ds.rel_level_db, tuple(ds.noise_snr_db))


def cached_root(plan: DataPlan, cache_dir: Path, progress: ProgressFn | None, fill: Filler) -> Path:
    """``cache_dir/{kind}-{digest}``, filled by ``fill(plan, folder, progress)`` unless it exists.

    The digest covers the dataset spec, ``n_src`` and every file the plan lists. The folder is
    built beside its final name and renamed into place with ``dataset.json``, under a lock.
    """
    ds = plan.spec
    key = {"version": VERSION, "dataset": dataclasses.asdict(ds), "n_src": plan.n_src,
           "files": _fingerprint(plan)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    root = Path(cache_dir) / f"{ds.kind}-{digest}"
    if (root / META).is_file():
        return root.resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(root.parent / f".{root.name}.lock"):
        if (root / META).is_file():
            return root.resolve()
        tmp = root.parent / f".{root.name}.partial"
        start_build(tmp, META)  # a leftover of ours is deleted; anything else is refused
        meta = {"kind": ds.kind, "sample_rate": ds.sample_rate, "resample": plan.needs_resampling,
                "seed": ds.seed, "n_train": ds.n_train, "recipe": dataclasses.asdict(recipe_of(ds)),
                "dynamic_default": get_kind(ds.kind).dynamic_default, "source": str(plan.root)}
        fill(plan, tmp, progress)
        (tmp / META).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        finish_build(tmp)
        os.replace(tmp, root)
    return root.resolve()


def _fingerprint(plan: DataPlan) -> str:
    h = hashlib.sha256()
    for split in plan.splits.values():
        for r in split.records:
            h.update(f"{r.mix}|{'|'.join(map(str, r.sources))}\n".encode())
        for u in split.utterances + (plan.noise if split.name == "train" else []):
            h.update(f"{u.path}|{u.speaker}|{u.frames}|{u.rate}\n".encode())
    return h.hexdigest()


def fill_records(plan: DataPlan, out: Path, progress: ProgressFn | None, link_train_root: bool = False) -> None:
    """The splits of a plan of fixed mixtures under ``out``: links to the files, or copies at the
    study's rate for the evaluation splits when rates differ (training resamples on load).
    ``link_train_root``: ``tr`` is one link to the corpus's own training folder."""
    for name, split in plan.splits.items():
        dest = out / FOLDER[name]
        if link_train_root and name == "train":
            os.symlink(split.records[0].mix.parent.parent, dest)
        elif name == "train" or not plan.needs_resampling:
            _link_split(dest, split, plan.n_src)
        else:  # evaluation reads files at the study's rate: resample once, here
            _resampled_split(dest, split, plan.n_src, plan.spec.sample_rate, progress)


def _subfolders(dest: Path, n_src: int) -> list[str]:
    subs = ["mix"] + [f"s{k}" for k in range(1, n_src + 1)]
    for sub in subs:
        (dest / sub).mkdir(parents=True)
    return subs


def _link_split(dest: Path, split: SplitInfo, n_src: int) -> None:
    subs = _subfolders(dest, n_src)
    for r in split.records:
        for sub, path in zip(subs, (r.mix,) + r.sources):
            os.symlink(path, dest / sub / f"{r.name}.wav")


def _resampled_split(dest: Path, split: SplitInfo, n_src: int, rate: int, progress: ProgressFn | None) -> None:
    subs = _subfolders(dest, n_src)
    for i, r in enumerate(split.records, 1):
        for sub, path in zip(subs, (r.mix,) + r.sources):
            x, sr = read_audio(path)
            write_wav(dest / sub / f"{r.name}.wav", np.clip(resample(x, sr, rate), -1, 1), rate)
        if progress and (i == len(split.records) or i % 200 == 0):
            progress(f"{dest.name} resampling", i, len(split.records))


def make_datasets(root: str | Path, n_src: int, segment: int, sample_rate: int, seed: int,
                  dynamic_mixing: bool | None = None):
    """``(train_set, valid_set)`` for a trial on a prepared ``root`` (see the module doc).

    ``dynamic_mixing`` (the spec's ``train.dynamic_mixing``): ``True`` draws new training
    mixtures every epoch from the training sources (for wsj0mix / librimix / the embedded
    corpus: the ``s1..sS`` files of ``tr``, one pool utterance each); ``False`` keeps a fixed
    training set; ``None`` takes the kind's default (dynamic for ``speakers`` only). Both sets
    give ``(mix [T], sources [S, T], name)`` items with T = ``segment`` samples.
    """
    from sweep.data.dynamic import DynamicMixDataset
    from sweep.data.wsj0mix import Wsj0MixDataset

    root = Path(root)
    meta = json.loads((root / META).read_text(encoding="utf-8")) if (root / META).is_file() else {}
    if meta and meta["sample_rate"] != sample_rate:
        raise ValueError(f"{root / META}: prepared for {meta['sample_rate']} Hz, the trial runs at {sample_rate} Hz")
    dynamic = meta.get("dynamic_default", False) if dynamic_mixing is None else bool(dynamic_mixing)
    valid = Wsj0MixDataset(root / FOLDER["valid"], n_src=n_src, segment=segment, sample_rate=sample_rate, seed=seed)
    recipe = MixRecipe(**{**meta["recipe"], "noise_snr_db": tuple(meta["recipe"]["noise_snr_db"])}) \
        if "recipe" in meta else MixRecipe()
    custom = get_kind(meta["kind"]).train_set if "kind" in meta else None
    if custom is not None:
        train = custom(root, meta, n_src=n_src, segment=segment, sample_rate=sample_rate, seed=seed,
                       dynamic=dynamic, recipe=recipe)
    elif dynamic:
        pool = _source_pool(root / FOLDER["train"], n_src)
        train = DynamicMixDataset(pool, n_src, segment, sample_rate, len(pool) // n_src, seed, True, recipe)
    else:
        train = Wsj0MixDataset(root / FOLDER["train"], n_src=n_src, segment=segment, sample_rate=sample_rate,
                               seed=seed, resample=bool(meta.get("resample", False)))
    return train, valid


def _source_pool(folder: Path, n_src: int) -> list[Utterance]:
    """The reference sources of a wsj0-layout training split as single-speaker utterances
    (each utterance once, though wsj0-2mix reuses it in several mixtures)."""
    records = wsj0mix_records(folder, n_src)
    speakers = wsj0mix_speakers(folder, records, n_src)
    seen, pool = set(), []
    for r in records:
        ids = r.name.split("_")[0::2][:n_src]
        for k, path in enumerate(r.sources):
            uid = ids[k] if len(ids) == n_src else f"{r.name}#{k}"
            if uid in seen:
                continue
            seen.add(uid)
            rate, _, frames = audio_info(path)
            pool.append(Utterance(str(path), speakers[r.name][k], frames, rate))
    return pool
