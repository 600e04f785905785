"""Mixing single-speaker utterances: on the fly for training (dynamic mixing), or once, fixed
by the seed, for the validation and test sets.

One recipe for both, so the fixed sets look like the training mixtures:

1. pick ``n_src`` distinct speakers and one utterance of each;
2. crop each to the segment (training: a random window) or cut all to the shortest
   ("min" mode, the fixed sets);
3. bring each source to ``level_dbfs`` (active level, RMS, or untouched), then spread them by
   gains drawn in ``[0, rel_level_db]`` dB (centred, so the mean level stays put);
4. optionally add a noise recording at a speech-to-noise ratio drawn from ``noise_snr_db``;
5. scale all signals jointly only if the mixture would clip.

With ``dynamic=True`` every epoch draws new combinations (Zeghidour & Grangier's dynamic
mixing, the "SepFormer + DM" recipe); with ``dynamic=False`` the epoch-0 combinations repeat
every epoch (a static training set of the same size).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sweep.audio import read_audio, resample, to_pcm16, write_wav
from sweep.data.speakers import Utterance

__all__ = ["MixRecipe", "DynamicMixDataset", "write_fixed_split", "source_level"]

PEAK = 0.9  # joint scale target when a mixture would clip (as wsj0-2mix)


@dataclasses.dataclass(frozen=True)
class MixRecipe:
    """Level settings of the mixing recipe (see the module docstring)."""

    level: str = "active"  # active | rms | none
    level_dbfs: float = -25.0
    rel_level_db: float = 5.0
    noise_snr_db: tuple[float, float] = (-6.0, 3.0)


def source_level(x: np.ndarray, kind: str, sample_rate: int) -> float:
    """Linear level of ``x`` [T]: RMS over the 20 ms frames within 30 dB of the loudest
    (``active``, a cheap stand-in for ITU-T P.56) or plain RMS (``rms``)."""
    x = np.asarray(x, np.float64)
    if kind == "rms" or len(x) < 2 * int(0.02 * sample_rate):
        return float(np.sqrt(np.mean(x * x)) + 1e-12)
    frame = int(0.02 * sample_rate)
    n = len(x) // frame
    e = np.mean(x[:n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20
    return float(np.sqrt(np.mean(e[e >= e.max() * 1e-3])))


def _mix(sources: list[np.ndarray], noise: np.ndarray | None, rng: np.random.Generator,
         recipe: MixRecipe, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Apply steps 3-5 to equal-length float arrays; returns ``(mix [T], sources [S, T], noise)``."""
    s = np.stack(sources).astype(np.float64)
    gains = rng.uniform(0.0, recipe.rel_level_db, len(sources)) if recipe.rel_level_db > 0 else np.zeros(len(s))
    gains -= gains.mean()
    if recipe.level != "none":
        target = 10 ** (recipe.level_dbfs / 20)
        for k in range(len(s)):
            s[k] *= target / source_level(s[k], recipe.level, sample_rate)
    s *= (10 ** (gains / 20))[:, None]
    mix = s.sum(0)
    if noise is not None:
        snr = rng.uniform(*recipe.noise_snr_db)
        noise = noise.astype(np.float64) * (source_level(mix, "rms", sample_rate) / 10 ** (snr / 20)
                                            / source_level(noise, "rms", sample_rate))
        mix = mix + noise
    peak = max(np.abs(mix).max(), np.abs(s).max())
    if peak > 1.0:  # rare with -25 dBFS sources; scale everything so the references stay exact
        scale = PEAK / peak
        mix, s = mix * scale, s * scale
        noise = None if noise is None else noise * scale
    return mix, s, noise


class _Reader:
    """Reads utterances at the target rate, whole or as a window; caches small corpora."""

    def __init__(self, sample_rate: int, cache: bool) -> None:
        self.sample_rate = sample_rate
        self._cache: dict[str, np.ndarray] | None = {} if cache else None

    def read(self, u: Utterance, length: int | None, rng: np.random.Generator) -> np.ndarray:
        """``length`` samples at the target rate from a random offset (zero-padded when the
        utterance is shorter), or the whole utterance for ``length=None``."""
        ratio = u.rate / self.sample_rate
        if self._cache is not None:
            x = self._cache.get(u.path)
            if x is None:
                x = self._cache[u.path] = self._load(u, 0, -1)
            if length is None or len(x) <= length:
                return x if length is None else np.pad(x, (0, length - len(x)))
            start = int(rng.integers(0, len(x) - length + 1))
            return x[start:start + length]
        if length is None:
            return self._load(u, 0, -1)
        native = math.ceil(length * ratio) + (8 if ratio != 1 else 0)  # a few spare for the filter
        start = int(rng.integers(0, max(1, u.frames - native + 1)))
        x = self._load(u, start, native)[:length]
        return np.pad(x, (0, length - len(x))) if len(x) < length else x

    def _load(self, u: Utterance, start: int, frames: int) -> np.ndarray:
        x, sr = read_audio(u.path, start, frames)
        if x.ndim != 1:
            raise ValueError(f"{u.path}: {x.shape[0]} channels; expected mono")
        return resample(x, sr, self.sample_rate)


class DynamicMixDataset(Dataset):
    """Training mixtures made on the fly from single-speaker utterances.

    Items are ``(mix, sources, name)``: ``mix`` float32 ``[T]``, ``sources`` float32 ``[S, T]``
    (T = ``segment`` samples at ``sample_rate``) and a name that records the utterances used.
    Item ``i`` of epoch ``e`` depends only on ``(seed, e, i)`` (``(seed, 0, i)`` when
    ``dynamic=False``), so DataLoader workers and reruns agree.

    Args:
        pool: utterances with ``frames`` and ``rate`` filled in (from the checks).
        n_src: speakers per mixture S.
        segment: training crop in samples at ``sample_rate``.
        sample_rate: Hz; utterances at other rates are resampled on load.
        n_items: mixtures per epoch.
        noise_pool: optional noise recordings, cropped like the sources.
        cache: keep decoded utterances in memory (``None``: when the pool is under ~1 GiB).
    """

    def __init__(self, pool: list[Utterance], n_src: int, segment: int, sample_rate: int, n_items: int,
                 seed: int = 0, dynamic: bool = True, recipe: MixRecipe = MixRecipe(),
                 noise_pool: list[Utterance] | None = None, cache: bool | None = None) -> None:
        self.by_speaker: dict[str, list[Utterance]] = {}
        for u in pool:
            self.by_speaker.setdefault(u.speaker, []).append(u)
        self.speakers = sorted(self.by_speaker)
        if len(self.speakers) < n_src:
            raise ValueError(f"dynamic mixing of {n_src} speakers needs {n_src} speakers, the training "
                             f"pool has {len(self.speakers)}")
        self.n_src, self.segment, self.sample_rate = n_src, segment, sample_rate
        self.n_items, self.seed, self.dynamic, self.recipe = n_items, seed, dynamic, recipe
        self.noise_pool = noise_pool or []
        self.epoch = 0
        if cache is None:
            cache = sum(u.frames * 4 * sample_rate / max(u.rate, 1) for u in pool) <= 1 << 30
        self._reader = _Reader(sample_rate, cache)

    def __len__(self) -> int:
        return self.n_items

    def set_epoch(self, epoch: int) -> None:
        """New combinations for ``epoch`` (only when dynamic); call before making the iterator."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        rng = np.random.default_rng([self.seed, 7, self.epoch if self.dynamic else 0, i])
        crop_rng = np.random.default_rng([self.seed, 8, self.epoch, i])  # windows move every epoch
        picks = rng.choice(len(self.speakers), self.n_src, replace=False)
        utts = []
        for k in picks:
            mine = self.by_speaker[self.speakers[int(k)]]
            utts.append(mine[int(rng.integers(len(mine)))])
        sources = [self._reader.read(u, self.segment, crop_rng) for u in utts]
        noise = None
        if self.noise_pool:
            noise = self._reader.read(self.noise_pool[int(rng.integers(len(self.noise_pool)))],
                                      self.segment, crop_rng)
        mix, s, _ = _mix(sources, noise, rng, self.recipe, self.sample_rate)
        name = "_".join(Path(u.path).stem for u in utts)
        return torch.from_numpy(mix.astype(np.float32)), torch.from_numpy(s.astype(np.float32)), name


def write_fixed_split(folder: Path, pool: list[Utterance], n_mix: int, n_src: int, sample_rate: int,
                      seed: int, tag: int, recipe: MixRecipe = MixRecipe(),
                      noise_pool: list[Utterance] | None = None) -> dict:
    """Write ``n_mix`` full-length ("min") mixtures in wsj0-2mix layout under ``folder``.

    ``folder/{mix,s1..sS}/NAME.wav`` as 16-bit PCM at ``sample_rate``, with ``mix`` the exact
    sum of the stored sources (plus the stored noise, kept in ``noise/`` when used), and
    ``mixtures.csv``. Fixed by ``(seed, tag)``: ``tag`` tells the splits apart.

    Returns ``{"mixtures", "speakers", "hours"}`` for the manifest.
    """
    subs = ["mix"] + [f"s{k}" for k in range(1, n_src + 1)] + (["noise"] if noise_pool else [])
    for sub in subs:
        (folder / sub).mkdir(parents=True)
    by_spk: dict[str, list[Utterance]] = {}
    for u in pool:
        by_spk.setdefault(u.speaker, []).append(u)
    speakers = sorted(by_spk)
    reader = _Reader(sample_rate, cache=False)
    rng = np.random.default_rng([seed, 9, tag])
    total, used, rows, names = 0, set(), [], set()
    for i in range(n_mix):
        picks = [speakers[int(k)] for k in rng.choice(len(speakers), n_src, replace=False)]
        utts = [by_spk[s][int(rng.integers(len(by_spk[s])))] for s in picks]
        xs = [reader.read(u, None, rng) for u in utts]
        n = min(len(x) for x in xs)
        noise = None
        if noise_pool:
            nu = noise_pool[int(rng.integers(len(noise_pool)))]
            noise = reader.read(nu, n, rng)
        mix, s, noise = _mix([x[:n] for x in xs], noise, rng, recipe, sample_rate)
        q = [to_pcm16(x) for x in s]  # quantise the references, then sum: mix == s1 + s2 (+ noise)
        qn = to_pcm16(noise) if noise is not None else None
        total_i = np.sum([x.astype(np.int32) for x in q] + ([qn.astype(np.int32)] if qn is not None else []), 0)
        qmix = np.clip(total_i, -32768, 32767).astype(np.int16)
        name = f"{i:05d}_" + "_".join(Path(u.path).stem for u in utts)
        if name in names:
            name = f"{name}_{i}"
        names.add(name)
        for sub, x in [("mix", qmix)] + [(f"s{k + 1}", q[k]) for k in range(n_src)] + \
                ([("noise", qn)] if qn is not None else []):
            write_wav(folder / sub / f"{name}.wav", x, sample_rate)
        rows.append([name, n] + [u.speaker for u in utts] + [u.path for u in utts])
        used.update(picks)
        total += n
    with open(folder / "mixtures.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")  # quotes paths that hold commas
        w.writerow(["name", "length"] + [f"spk{k}" for k in range(1, n_src + 1)]
                   + [f"path{k}" for k in range(1, n_src + 1)])
        w.writerows(rows)
    return {"mixtures": n_mix, "speakers": sorted(used), "hours": round(total / sample_rate / 3600, 4)}
