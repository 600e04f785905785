"""Small corpora of every dataset kind, built on the fly from the embedded generator's voices.

Utterances come from ``sweep.data.synth`` (espeak-ng / flite voices, 8 kHz); the builders lay
them out as a LibriSpeech-style speakers folder (FLAC at 16 kHz), a wsj0-mix root, or a LibriMix
root with its metadata CSVs, so the loaders are tested on the layouts they will meet.
"""

from __future__ import annotations

import csv
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from sweep.audio import resample, write_wav
from sweep.data import synth

Utts = dict[str, list[np.ndarray]]  # speaker id -> float32 [T] utterances at 8 kHz


@functools.lru_cache(maxsize=4)  # shared by the test modules of one run; callers must not mutate
def synth_utterances(n_speakers: int, n_utts: int, seed: int = 0) -> Utts:
    """``n_utts`` synthesised sentences for each of ``n_speakers`` voices (ids "100", "101", ...)."""
    speakers = synth.make_speakers(seed)[:n_speakers]
    words, rng = synth.load_words(), np.random.default_rng(seed)
    tmp = Path(__import__("tempfile").mkdtemp())
    jobs = [(s, f"{s.id}u{i}", synth.make_sentence(rng, words), tmp) for s in speakers for i in range(n_utts)]
    with ThreadPoolExecutor(2) as pool:
        xs = list(pool.map(synth._synthesise, jobs))
    tmp.rmdir()
    return {str(100 + k): xs[k * n_utts:(k + 1) * n_utts] for k in range(n_speakers)}


def noise_utterances(n_speakers: int, n_utts: int, seed: int = 0) -> Utts:
    """Stand-ins for :func:`synth_utterances` without a synthesiser: 0.3-0.6 s of noise each, for
    tests of layouts and checks that never listen to the signals."""
    rng = np.random.default_rng(seed)
    return {str(100 + k): [rng.uniform(-0.3, 0.3, int(rng.integers(2400, 4800))).astype(np.float32)
                           for _ in range(n_utts)] for k in range(n_speakers)}


def write_speakers(dst: Path, utts: Utts, rate: int = 16000, fmt: str = "flac") -> Path:
    """LibriSpeech layout ``dst/SPK/CHAPTER/SPK-CHAPTER-NNNN.flac`` (or .wav)."""
    for spk, xs in utts.items():
        folder = dst / spk / "1"
        folder.mkdir(parents=True, exist_ok=True)
        for i, x in enumerate(xs):
            y = np.clip(resample(x, synth.SAMPLE_RATE, rate), -1, 1)
            sf.write(str(folder / f"{spk}-1-{i:04d}.{fmt}"), y, rate, subtype="PCM_16")
    return dst


def _mixtures(utts: Utts, speakers: list[str], n_mix: int, n_src: int, rng) -> list[tuple]:
    out = []
    for _ in range(n_mix):
        spks = [speakers[int(k)] for k in rng.choice(len(speakers), n_src, replace=False)]
        picks = [(s, int(rng.integers(len(utts[s])))) for s in spks]
        out.append(picks)
    return out


def _mix(utts: Utts, picks: list[tuple], rng) -> list[np.ndarray]:
    xs = [utts[s][i] for s, i in picks]
    n = min(len(x) for x in xs)
    gains = rng.uniform(-2.5, 2.5, len(xs))
    src = [x[:n] * 10 ** (g / 20) for x, g in zip(xs, gains)]
    peak = max(np.abs(np.sum(src, 0)).max(), max(np.abs(s).max() for s in src))
    src = [np.round(s * 0.9 / peak * 32768) / 32768 for s in src]  # exact 16-bit values: mix == sum
    return [np.sum(src, 0)] + src


def write_wsj0mix(dst: Path, utts: Utts, n_src: int = 2, rate: int = 8000,
                  sizes: dict[str, int] | None = None, seed: int = 0) -> Path:
    """``dst/{tr,cv,tt}/{mix,s1..sS}/NAME.wav`` with WSJ0-style names (tt: the last speakers)."""
    sizes = sizes or {"tr": 12, "cv": 3, "tt": 3}
    rng = np.random.default_rng(seed)
    spk = sorted(utts)
    unseen = spk[-max(n_src, len(spk) // 4):]
    for split, n in sizes.items():
        for picks in _mixtures(utts, unseen if split == "tt" else spk[:len(spk) - len(unseen)], n, n_src, rng):
            sigs = _mix(utts, picks, rng)
            name = "_".join(f"{s}c{i:02d}{split}_0.0" for s, i in picks) + f"_{int(rng.integers(1e6))}"
            for sub, x in zip(["mix"] + [f"s{k}" for k in range(1, n_src + 1)], sigs):
                (dst / split / sub).mkdir(parents=True, exist_ok=True)
                write_wav(dst / split / sub / f"{name}.wav", resample(x, synth.SAMPLE_RATE, rate), rate)
    return dst


def write_librimix(dst: Path, utts: Utts, n_src: int = 2, rate: int = 8000, seed: int = 0,
                   moved_from: str = "/corpora/elsewhere") -> Path:
    """A Libri{n}Mix ``wav{k}k/min`` root: ``{train-100,dev,test}/{mix_clean,s1..}`` and
    ``metadata/mixture_{subset}_mix_clean.csv``, whose paths point at ``moved_from`` (as after
    copying a corpus to another machine) except the dev set's, which are real."""
    rng = np.random.default_rng(seed)
    spk = sorted(utts)
    groups = {"train-100": spk[:-2 * n_src], "dev": spk[-2 * n_src:-n_src], "test": spk[-n_src:]}
    sizes = {"train-100": 16, "dev": 3, "test": 3}
    (dst / "metadata").mkdir(parents=True)
    for subset, speakers in groups.items():
        rows = []
        for picks in _mixtures(utts, speakers, sizes[subset], n_src, rng):
            sigs = _mix(utts, picks, rng)
            name = "_".join(f"{s}-1-{i:04d}" for s, i in picks)
            paths = []
            for sub, x in zip(["mix_clean"] + [f"s{k}" for k in range(1, n_src + 1)], sigs):
                (dst / subset / sub).mkdir(parents=True, exist_ok=True)
                write_wav(dst / subset / sub / f"{name}.wav", resample(x, synth.SAMPLE_RATE, rate), rate)
                base = dst if subset == "dev" else Path(moved_from)
                paths.append(str(base / subset / sub / f"{name}.wav"))
            rows.append([name] + paths + [len(sigs[0])])
        with open(dst / "metadata" / f"mixture_{subset}_mix_clean.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["mixture_ID", "mixture_path"] + [f"source_{k}_path" for k in range(1, n_src + 1)] + ["length"])
            w.writerows(rows)
    return dst


def study(data_line: str, *, study: str = "tiny", masks=("AM",), n_src: int = 2, extra_train: str = "",
          sampler: str = "grid", n_trials: int | None = None) -> str:
    """``tests.conftest.tiny_spec`` (1 x 32 LSTM, 1 epoch, 0.5 s) with another ``dataset:`` line."""
    from tests.conftest import tiny_spec

    text = tiny_spec(Path("/ROOT"), study=study, masks=masks, extra_train=extra_train, sampler=sampler,
                     n_trials=n_trials)
    text = text.replace("dataset: {kind: wsj0mix, root: /ROOT}", f"n_src: {n_src}\ndataset: {data_line}")
    assert f"dataset: {data_line}" in text
    return text
