"""A folder of single-speaker recordings: find the utterances, name their speakers, split them.

Three layouts are recognised (WAV or FLAC, any mix of the two):

- LibriSpeech: ``root/speaker/chapter/*.flac`` (the speaker is the first folder level);
- VCTK-like: ``root/speaker/*.wav``;
- a CSV manifest: ``root`` is a ``.csv`` file with columns ``path,speaker`` (paths relative to
  the manifest's folder, or absolute).

Speakers are split into *seen* ones (training, validation and the closed-condition test, on
disjoint utterances) and *unseen* ones (the open-condition test only).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path

from sweep.audio import AUDIO_SUFFIXES
from sweep.data.constants import SPLITS, Stream, stream

__all__ = ["Utterance", "scan_speakers", "scan_audio", "split_speakers", "read_pool", "write_pool"]

HELD_OUT_FRACTION = 0.1  # of each seen speaker's utterances, for validation and again for closed test
# A scan lists at most this many files and folders (LibriSpeech's 960 h: about 0.3 million).
MAX_SCAN_ENTRIES = 3_000_000


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One recording. ``frames`` (samples) and ``rate`` (Hz) are filled in by the checks."""

    path: str
    speaker: str
    frames: int = 0
    rate: int = 0


def scan_audio(folder: Path) -> list[Path]:
    """All .wav/.flac files under ``folder`` (recursively), sorted so the order is stable.

    Raises:
        ValueError: naming ``folder``, once more than :data:`MAX_SCAN_ENTRIES` files and folders
            have been listed under it (not a corpus folder, or links that loop): the scan stops.
    """
    out, listed = [], 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        listed += len(dirnames) + len(filenames)
        if listed > MAX_SCAN_ENTRIES:
            raise ValueError(f"{folder}: more than {MAX_SCAN_ENTRIES} files and folders under it, scan stopped; "
                             "point at the folder of one corpus (or list its files in a CSV manifest)")
        dirnames.sort()
        out += [Path(dirpath) / f for f in sorted(filenames) if f.lower().endswith(AUDIO_SUFFIXES)]
    return out


def scan_speakers(root: str | Path) -> list[Utterance]:
    """The utterances of a speakers corpus (``root``: folder or CSV manifest).

    Raises:
        ValueError: naming the path, for a missing root, a manifest without ``path`` and
            ``speaker`` columns, or a manifest row whose file does not exist.
    """
    root = Path(root).expanduser()
    if root.is_file() and root.suffix.lower() == ".csv":
        return _manifest(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root}: not a folder or a .csv manifest; dataset.root of a speakers dataset is a "
                         "folder of recordings (root/SPEAKER/...) or a CSV file with columns path,speaker")
    if not root.is_dir():
        raise ValueError(f"{root}: missing folder (dataset.root of a speakers dataset)")
    utts = []
    for path in scan_audio(root):
        rel = path.relative_to(root).parts
        if len(rel) < 2:  # files directly under root belong to no speaker
            raise ValueError(f"{path}: a file directly under the root; expected root/SPEAKER/... "
                             "(LibriSpeech or VCTK layout) or a CSV manifest")
        utts.append(Utterance(str(path), rel[0]))
    return utts


def _manifest(path: Path) -> list[Utterance]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "speaker"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: a manifest needs the columns path,speaker "
                             f"(found: {','.join(reader.fieldnames or [])})")
        utts = []
        for line, row in enumerate(reader, 2):
            p = Path(row["path"]).expanduser()
            p = p if p.is_absolute() else path.parent / p
            if not p.is_file():
                raise ValueError(f"{p}: missing file (listed in {path}, line {line})")
            if not row["speaker"]:
                raise ValueError(f"{path}: line {line}: empty speaker")
            utts.append(Utterance(str(p), row["speaker"]))
    return utts


def split_speakers(utts: list[Utterance], seed: int, unseen_fraction: float, min_utterances: int,
                   n_src: int) -> dict[str, list[Utterance]]:
    """``{"train", "valid", "closed", "open"}`` utterance lists, fixed by ``seed``.

    A ``unseen_fraction`` of the speakers (at least ``n_src``) go to ``open``. Each seen
    speaker gives about 10 % of its utterances (at least one) to ``valid`` and as many to
    ``closed``; the rest train. So a test utterance is never heard in training.

    Raises:
        ValueError: a speaker with fewer than ``min_utterances`` utterances (named, with a
            file of theirs), or too few speakers for ``n_src``-speaker mixtures on both sides.
    """
    by_spk: dict[str, list[Utterance]] = {}
    for u in utts:
        by_spk.setdefault(u.speaker, []).append(u)
    for spk, mine in sorted(by_spk.items()):
        if len(mine) < max(min_utterances, 1):
            raise ValueError(f"{Path(mine[0].path).parent}: speaker {spk!r} has {len(mine)} utterance(s); "
                             f"at least {min_utterances} are needed to split it into train/valid/test "
                             "(dataset.min_utterances)")
    speakers = sorted(by_spk)
    n_unseen = max(n_src, round(len(speakers) * unseen_fraction))
    if len(speakers) - n_unseen < n_src:
        raise ValueError(f"{Path(utts[0].path).parent if utts else '?'}: {len(speakers)} speaker(s); "
                         f"{n_src}-speaker mixtures need at least {n_src} seen and {n_src} unseen ones")
    rng = stream(seed, Stream.SPEAKER_SPLIT)
    order = [speakers[int(i)] for i in rng.permutation(len(speakers))]
    unseen = set(order[:n_unseen])
    out: dict[str, list[Utterance]] = {k: [] for k in SPLITS}
    for spk in speakers:
        mine = by_spk[spk]
        if spk in unseen:
            out["open"] += mine
            continue
        idx = rng.permutation(len(mine))
        k = max(1, round(len(mine) * HELD_OUT_FRACTION))
        out["valid"] += [mine[int(i)] for i in idx[:k]]
        out["closed"] += [mine[int(i)] for i in idx[k:2 * k]]
        out["train"] += [mine[int(i)] for i in idx[2 * k:]]
    return out


def write_pool(path: Path, utts: list[Utterance]) -> None:
    """``utts`` as a CSV of ``path,speaker,frames,rate`` (the prepared root's pools)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "speaker", "frames", "rate"])
        w.writerows([u.path, u.speaker, u.frames, u.rate] for u in utts)


def read_pool(path: Path) -> list[Utterance]:
    """The utterances :func:`write_pool` wrote."""
    with open(path, newline="", encoding="utf-8") as f:
        return [Utterance(r["path"], r["speaker"], int(r["frames"]), int(r["rate"])) for r in csv.DictReader(f)]
