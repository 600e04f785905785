"""Levels and the mixing recipe of single-speaker utterances (no torch here).

One recipe for the fixed validation/test sets written here and for dynamic mixing
(:mod:`sweep.data.dynamic`), so the fixed sets look like the training mixtures:

1. pick ``n_src`` distinct speakers and one utterance of each;
2. crop each to the segment (training: a random window) or cut all to the shortest
   ("min" mode, the fixed sets);
3. bring each source to ``level_dbfs`` (active level, RMS, or untouched), then spread them by
   gains drawn in ``[0, rel_level_db]`` dB (centred, so the mean level stays put);
4. optionally add a noise recording at a speech-to-noise ratio drawn from ``noise_snr_db``;
5. scale all signals jointly only if the mixture would clip.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

from sweep.audio import read_audio, resample, to_pcm16, write_wav
from sweep.data.constants import LEVEL_DBFS, NOISE_SNR_DB, PEAK, REL_LEVEL_DB, Stream, stream
from sweep.data.speakers import Utterance

__all__ = ["MixRecipe", "active_level", "source_level", "frame_energy", "mix_sources", "UtteranceReader",
           "write_fixed_split"]


@dataclasses.dataclass(frozen=True)
class MixRecipe:
    """Level settings of the mixing recipe (see the module docstring)."""

    level: str = "active"  # one of constants.LEVELS
    level_dbfs: float = LEVEL_DBFS
    rel_level_db: float = REL_LEVEL_DB
    noise_snr_db: tuple[float, float] = NOISE_SNR_DB


def frame_energy(x: np.ndarray, frame: int) -> np.ndarray:
    """Mean square of each whole ``frame``-sample frame of ``x`` [T] (at least one frame)."""
    n = max(1, len(x) // frame)
    return np.mean(np.resize(x, n * frame).reshape(n, frame) ** 2, axis=1) + 1e-20


def active_level(x: np.ndarray, sample_rate: int = 8000, floor_db: float = 30.0) -> float:
    """RMS over the 20 ms frames within ``floor_db`` dB of the loudest one (linear amplitude).

    A simple stand-in for the ITU-T P.56 active level that wsj0-2mix uses: pauses do not
    count, so utterances with different pause lengths still get the same speech loudness.
    Signals shorter than two frames get their plain RMS.
    """
    x = np.asarray(x, np.float64)
    frame = int(0.02 * sample_rate)
    if len(x) < 2 * frame:
        return source_level(x, "rms", sample_rate)
    e = frame_energy(x, frame)
    return float(np.sqrt(np.mean(e[e >= e.max() * 10 ** (-floor_db / 10)])))


def source_level(x: np.ndarray, kind: str, sample_rate: int) -> float:
    """Linear level of ``x`` [T]: :func:`active_level` (``active``) or plain RMS (``rms``)."""
    if kind == "rms":
        x = np.asarray(x, np.float64)
        return float(np.sqrt(np.mean(x * x)) + 1e-12)
    return active_level(x, sample_rate)


def mix_sources(sources: list[np.ndarray], noise: np.ndarray | None, rng: np.random.Generator,
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


class UtteranceReader:
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


def _by_speaker(pool: list[Utterance]) -> dict[str, list[Utterance]]:
    out: dict[str, list[Utterance]] = {}
    for u in pool:
        out.setdefault(u.speaker, []).append(u)
    return out


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
    by_spk = _by_speaker(pool)
    speakers = sorted(by_spk)
    reader = UtteranceReader(sample_rate, cache=False)
    rng = stream(seed, Stream.FIXED_SPLIT, tag)
    total, used, rows, names = 0, set(), [], set()
    for i in range(n_mix):
        picks = [speakers[int(k)] for k in rng.choice(len(speakers), n_src, replace=False)]
        utts = [by_spk[s][int(rng.integers(len(by_spk[s])))] for s in picks]
        xs = [reader.read(u, None, rng) for u in utts]
        n = min(len(x) for x in xs)
        noise = reader.read(noise_pool[int(rng.integers(len(noise_pool)))], n, rng) if noise_pool else None
        mix, s, noise = mix_sources([x[:n] for x in xs], noise, rng, recipe, sample_rate)
        signals = _quantised(s, noise)
        name = f"{i:05d}_" + "_".join(Path(u.path).stem for u in utts)
        if name in names:
            name = f"{name}_{i}"
        names.add(name)
        for sub, x in zip(subs, signals):
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


def _quantised(sources: np.ndarray, noise: np.ndarray | None) -> list[np.ndarray]:
    """int16 ``[mix, s1..sS(, noise)]``: the references are quantised first and then summed, so
    ``mix == s1 + s2 (+ noise)`` holds exactly in the stored files."""
    parts = [to_pcm16(x) for x in sources] + ([to_pcm16(noise)] if noise is not None else [])
    total = np.sum([x.astype(np.int32) for x in parts], 0)
    return [np.clip(total, -32768, 32767).astype(np.int16)] + parts
