"""Check a dataset before anything trains: ``sweep data check SPEC`` and the first step of
``sweep launch``.

:func:`check_dataset` hands the corpus a spec names to its kind's ``check`` (see
:mod:`sweep.data.registry`), which reads every file header and either returns a
:class:`DataPlan` (what a study would see: mixtures per split, hours, speakers, sample rates,
length percentiles) or raises :class:`DataError` with the offending path first, for a missing
folder, mixture/source lists that disagree, a sample rate that differs while
``dataset.resample`` is off, an empty, unreadable or multi-channel file, or a speaker with too
few utterances to split. A root that is a system folder or the home folder is refused from its
path alone (:func:`system_folder`), before anything under it is listed. The checks the kinds
share are here.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sweep.audio import audio_info
from sweep.data.librimix import MixRecord, speaker_of
from sweep.data.registry import get_kind
from sweep.data.speakers import Utterance

if TYPE_CHECKING:  # pragma: no cover
    from sweep.data.spec import DatasetSpec

__all__ = ["DataError", "DataPlan", "SplitInfo", "check_dataset", "checked_file", "check_records",
           "mixture_names", "system_folder", "wsj0mix_records", "wsj0mix_speakers"]

# Folders that are never a corpus: reading one would walk the system, writing one would wreck it.
SYSTEM_FOLDERS = frozenset(Path(p) for p in (
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
    "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var", "/Applications", "/Library", "/System", "/Users",
    "/private", "/Volumes"))
VIRTUAL_FOLDERS = (Path("/proc"), Path("/sys"))  # nothing under these is a corpus either (/dev/shm may be)


class DataError(ValueError):
    """A dataset problem; the message starts with the offending path."""


@dataclasses.dataclass
class SplitInfo:
    """One split: fixed mixtures (``records``) or single-speaker ``utterances`` to mix."""

    name: str  # train | valid | closed | open
    records: list[MixRecord] = dataclasses.field(default_factory=list)
    utterances: list[Utterance] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)  # per mixture / utterance
    rates: set[int] = dataclasses.field(default_factory=set)
    speakers: set[str] = dataclasses.field(default_factory=set)
    mixtures: int = 0  # what a study sees (speakers: generated per epoch / fixed)

    def line(self, dynamic: bool) -> str:
        secs = np.array(self.seconds, float)
        p5, p50, p95 = np.percentile(secs, [5, 50, 95]) if len(secs) else (0.0, 0.0, 0.0)
        what = (f"{self.mixtures} mixtures{'/epoch (dynamic mixing)' if dynamic else ''} from "
                f"{len(self.utterances)} utterances") if self.utterances else f"{len(self.records)} mixtures"
        rates = ",".join(str(r) for r in sorted(self.rates))
        return (f"  {self.name:<7} {what}, {secs.sum() / 3600:.2f} h, {len(self.speakers)} speakers, "
                f"{rates} Hz, length p5/p50/p95 {p5:.1f}/{p50:.1f}/{p95:.1f} s")


@dataclasses.dataclass
class DataPlan:
    """The checked corpus: where it is, what each split holds, and the optional noise pool."""

    spec: DatasetSpec
    n_src: int
    root: Path
    splits: dict[str, SplitInfo]
    noise: list[Utterance] = dataclasses.field(default_factory=list)
    source: str = ""  # wsj0mix: the folder standing in for the closed condition

    @property
    def needs_resampling(self) -> bool:
        return any(r != self.spec.sample_rate for s in self.splits.values() for r in s.rates)

    def summary(self) -> str:
        ds = self.spec
        head = f"dataset {ds.kind}: {self.root}, {self.n_src} speakers per mixture, {ds.sample_rate} Hz"
        if self.needs_resampling:
            head += " (files resampled on load)"
        dynamic = get_kind(ds.kind).dynamic_default  # its training mixtures are made on the fly
        lines = [head] + [s.line(dynamic and s.name == "train") for s in self.splits.values()]
        if self.noise:
            lines.append(f"  noise   {len(self.noise)} recordings at SNR {ds.noise_snr_db[0]:g}..{ds.noise_snr_db[1]:g} dB")
        if self.source:
            lines.append(f"  (closed condition: {self.source})")
        return "\n".join(lines)


def system_folder(path: str | Path) -> str | None:
    """Why ``path`` can be no corpus (``"a system folder"``, ``"your home folder"``), or None.

    Decided from the path alone (links resolved), so nothing under it is read.
    """
    p = Path(path).expanduser()
    try:
        p = p.resolve()
    except (OSError, RuntimeError):  # a link loop: judge the path as written
        p = Path(os.path.abspath(p))
    try:
        if p == Path.home().resolve():
            return "your home folder"
    except (OSError, RuntimeError):  # no home to be found
        pass
    if p in SYSTEM_FOLDERS or p.parent == p or any(p.is_relative_to(v) for v in VIRTUAL_FOLDERS):
        return "a system folder"
    return None


def check_dataset(ds: DatasetSpec, n_src: int) -> DataPlan:
    """Validate the corpus ``ds`` names for ``n_src``-speaker mixtures; see the module doc."""
    kind = get_kind(ds.kind)
    if kind.generated:
        raise DataError(f"the {ds.kind} corpus is generated (and checked) when it is built, by "
                        "`sweep data make` or the first launch")
    root = Path(ds.root or "").expanduser()
    reason = system_folder(root)
    if reason:  # refused before anything under it is listed: a scan of / would never end
        raise DataError(f"{root}: {reason}, not a {ds.kind} corpus; point dataset.root at the corpus folder")
    if not root.exists():
        raise DataError(f"{root}: missing folder (dataset.root)")
    try:
        return kind.check(ds, root, n_src)
    except DataError:
        raise
    except ValueError as exc:  # from the readers: already "path: problem"
        raise DataError(str(exc)) from None


def checked_file(path: Path, ds: DatasetSpec) -> tuple[int, int]:
    """``(rate, frames)`` of a file that must be a non-empty mono file at a usable rate."""
    rate, ch, frames = audio_info(path)
    if ch != 1:
        raise DataError(f"{path}: {ch} channels; expected mono recordings")
    if frames == 0:
        raise DataError(f"{path}: empty file (0 samples)")
    if rate != ds.sample_rate and not ds.resample:
        raise DataError(f"{path}: sample rate {rate} Hz but the study uses {ds.sample_rate} Hz; set "
                        "dataset.resample: true (resampled on load) or point at the matching folder")
    return rate, frames


def check_records(split: SplitInfo, ds: DatasetSpec) -> None:
    """Every record of ``split`` readable, at a usable rate, sources as long as their mixture."""
    for r in split.records:
        rate, frames = checked_file(r.mix, ds)
        for src in r.sources:
            srate, sframes = checked_file(src, ds)
            if (srate, sframes) != (rate, frames):
                raise DataError(f"{src}: {sframes} samples at {srate} Hz but its mixture {r.mix.name} "
                                f"has {frames} at {rate} Hz")
        split.seconds.append(frames / rate)
        split.rates.add(rate)


def mixture_names(folder: Path, n_src: int) -> list[str]:
    """The ``.wav`` names of ``folder/mix``, which ``folder/s1`` .. ``s{n_src}`` must all hold too.

    Raises:
        DataError: starting with the missing folder, or with the file one of them lacks or has extra.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: missing folder (a wsj0-mix root holds tr/, cv/, tt/, each with mix/ "
                        f"and s1/..s{n_src}/)")
    names = {}
    for sub in ["mix"] + [f"s{k}" for k in range(1, n_src + 1)]:
        if not (folder / sub).is_dir():
            raise DataError(f"{folder / sub}: missing folder (n_src={n_src})")
        names[sub] = sorted(e.name for e in os.scandir(folder / sub) if e.name.endswith(".wav"))
    if not names["mix"]:
        raise DataError(f"{folder / 'mix'}: no .wav files")
    for sub, listed in names.items():
        if listed != names["mix"]:
            bad = min(set(listed) ^ set(names["mix"]))
            where = f"mix/ but not {sub}/" if bad in names["mix"] else f"{sub}/ but not mix/"
            raise DataError(f"{folder / sub / bad}: in {where}; {sub}/ and mix/ must hold the same file names")
    return names["mix"]


def wsj0mix_records(folder: Path, n_src: int) -> list[MixRecord]:
    """``folder/{mix,s1..sS}/*.wav`` as records (see :func:`mixture_names`)."""
    return [MixRecord(n[:-4], folder / "mix" / n, tuple(folder / f"s{k}" / n for k in range(1, n_src + 1)))
            for n in mixture_names(folder, n_src)]


def wsj0mix_speakers(folder: Path, records: list[MixRecord], n_src: int) -> dict[str, list[str]]:
    """Speaker of each source, by mixture name: from ``mixtures.csv`` (the embedded corpus and
    fixed sets written here) or WSJ0's naming (``011a010b_0.61_409o030a_-0.61``: speakers 011, 409)."""
    table = folder / "mixtures.csv"
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            rows = {row["name"]: [row[f"spk{k}"] for k in range(1, n_src + 1)] for row in csv.DictReader(f)}
        if all(r.name in rows for r in records):
            return {r.name: rows[r.name] for r in records}
    out = {}
    for r in records:
        parts = r.name.split("_")
        ids = parts[0::2][:n_src] if len(parts) >= 2 * n_src else [f"{r.name}#{k}" for k in range(n_src)]
        out[r.name] = [speaker_of(u) if "-" in u else u[:3] for u in ids]
    return out
