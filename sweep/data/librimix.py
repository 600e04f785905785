"""LibriMix (Libri2Mix / Libri3Mix) through its metadata CSVs.

The root is one rate/mode folder of a LibriMix build, e.g. ``Libri2Mix/wav8k/min``::

    root/metadata/mixture_{subset}_mix_{clean|both}.csv
    root/{train-100,train-360,dev,test}/{mix_clean,mix_both,s1,s2[,s3],noise}/ID.wav

The CSV columns are ``mixture_ID, mixture_path, source_1_path, source_2_path[, source_3_path]
[, noise_path], length``. Paths in the CSVs are absolute on the machine that generated them,
so a path that does not exist is looked up under ``root/{subset}/{its folder}/{its name}``;
a corpus that was moved or mounted elsewhere still reads.

Conditions: LibriSpeech's dev and test speakers are disjoint from its training speakers, so
``test`` is the open condition and ``dev`` validates; the closed condition is ``n_test``
mixtures held out of the training subset (their speakers are seen in training, the mixtures
themselves are not).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

from sweep.data.constants import Stream, stream

__all__ = ["MixRecord", "read_metadata", "metadata_path", "speaker_of", "hold_out", "SUBSETS", "TRAIN_SUBSETS",
           "MIXTURES"]

SUBSETS = {"valid": "dev", "open": "test"}  # LibriMix's subset of each split; training: the spec's
TRAIN_SUBSETS = ("train-100", "train-360")
MIXTURES = ("clean", "both")  # mix_clean, or mix_both (speech + WHAM! noise)


@dataclasses.dataclass(frozen=True)
class MixRecord:
    """One mixture: its id, the mixture file and the ``n_src`` source files."""

    name: str
    mix: Path
    sources: tuple[Path, ...]


def metadata_path(root: Path, subset: str, mixture: str) -> Path:
    return Path(root) / "metadata" / f"mixture_{subset}_mix_{mixture}.csv"


def speaker_of(utterance_id: str) -> str:
    """LibriSpeech ids are ``speaker-chapter-utterance``."""
    return utterance_id.split("-")[0]


def _resolve(root: Path, subset: str, listed: str) -> Path:
    p = Path(listed)
    if p.is_absolute() and p.is_file():
        return p
    return root / subset / p.parent.name / p.name


def read_metadata(root: str | Path, subset: str, mixture: str, n_src: int) -> list[MixRecord]:
    """The mixtures of ``subset`` (``mixture``: ``clean`` or ``both``), in CSV order.

    Raises:
        ValueError: naming the file: a missing metadata CSV, missing columns for ``n_src``
            sources, or a listed file that is found neither where the CSV says nor under root.
    """
    root = Path(root)
    path = metadata_path(root, subset, mixture)
    if not path.is_file():
        raise ValueError(f"{path}: missing LibriMix metadata file (root should be e.g. "
                         f"Libri{n_src}Mix/wav8k/min, holding metadata/ and {subset}/)")
    need = ["mixture_ID", "mixture_path"] + [f"source_{k}_path" for k in range(1, n_src + 1)]
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        _check_columns(path, reader.fieldnames or [], need, n_src)
        for line, row in enumerate(reader, 2):
            files = [_resolve(root, subset, row[c]) for c in need[1:]]
            for p in files:
                if not p.is_file():
                    raise ValueError(f"{p}: missing file (listed in {path.name}, line {line})")
            out.append(MixRecord(row["mixture_ID"], files[0], tuple(files[1:])))
    if not out:
        raise ValueError(f"{path}: no mixtures listed")
    return out


def _check_columns(path: Path, columns: list[str], need: list[str], n_src: int) -> None:
    count = sum(1 for c in columns if re.fullmatch(r"source_\d+_path", c))
    if count >= 2 and count != n_src:
        raise ValueError(f"{path}: a Libri{count}Mix metadata file ({count}-speaker corpus: {count} sources per "
                         f"mixture) but n_src is {n_src}; set n_src: {count} or point at a Libri{n_src}Mix folder")
    missing = [c for c in need if c not in columns]
    if missing:
        raise ValueError(f"{path}: no column {missing[0]} (n_src={n_src}; is this a "
                         f"Libri{n_src}Mix metadata file?)")


def hold_out(records: list[MixRecord], n: int, seed: int) -> tuple[list[MixRecord], list[MixRecord]]:
    """``(train, closed)``: ``n`` records (at most a quarter) chosen by ``seed`` for the closed set."""
    n = min(n, len(records) // 4)
    rng = stream(seed, Stream.HOLD_OUT)
    pick = set(int(i) for i in rng.permutation(len(records))[:n])
    return ([r for i, r in enumerate(records) if i not in pick],
            [r for i, r in enumerate(records) if i in pick])
