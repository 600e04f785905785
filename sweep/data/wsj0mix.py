"""Dataset for the wsj0-2mix folder layout: ``{split}/{mix,s1,...,sN}/{name}.wav``.

Reads a real WSJ0-2mix (or -3mix) folder, e.g. ``wsj0-mix/2speakers/wav8k/min``, as well as
the synthetic default corpus made by :mod:`sweep.data.synth` (which adds ``tt_closed``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sweep.audio import audio_info, read_audio, resample as resample_audio
from sweep.data.check import mixture_names
from sweep.data.constants import CONDITIONS, FOLDER

__all__ = ["Wsj0MixDataset", "test_conditions"]

DEFAULT_CACHE_BYTES = 1 << 30  # corpora up to ~1 GiB of 16-bit files are kept in memory


class Wsj0MixDataset(Dataset):
    """Mixtures and their reference sources from one split folder.

    Items are ``(mix, sources, name)``: ``mix`` float32 ``[T]``, ``sources`` float32 ``[S, T]``
    (S = ``n_src``; T in samples, ``segment`` if set) and the file name without ``.wav``.

    Args:
        folder: the split folder holding ``mix/`` and ``s1/`` .. ``s{n_src}/``.
        n_src: number of sources S.
        segment: training crop length in samples. Shorter utterances are zero-padded at the
            end, longer ones cropped at a random offset that depends on (seed, epoch, index)
            only, so crops are reproducible and independent of DataLoader worker order.
            ``None`` gives full-length items (evaluation with batch size 1).
        sample_rate: expected rate in Hz; files at another rate raise ValueError, unless
            ``resample`` is set (they are then resampled on load, before caching).
        seed: seed for the crop offsets.
        cache: keep decoded 16-bit samples in memory after first read. ``None`` decides by size
            (files totalling at most 1 GiB). Each DataLoader worker process has its own cache.

    Raises:
        ValueError: missing sub-folders, ``s{k}`` not holding exactly the names in ``mix``
            (names the first mismatched file; see ``check.mixture_names``), or a wrong sample rate.
    """

    def __init__(self, folder: str | Path, n_src: int = 2, segment: int | None = None,
                 sample_rate: int = 8000, seed: int = 0, cache: bool | None = None,
                 resample: bool = False) -> None:
        self.folder = Path(folder)
        if segment is not None and segment < 1:
            raise ValueError(f"segment must be a positive number of samples, got {segment}")
        self.n_src, self.segment, self.sample_rate, self.seed = n_src, segment, sample_rate, seed
        self.resample = resample
        self.epoch = 0
        files = mixture_names(self.folder, n_src)
        mix_dir = self.folder / "mix"
        self.names = [f[:-4] for f in files]
        rate = audio_info(mix_dir / files[0])[0]
        if rate != sample_rate and not resample:
            raise ValueError(f"{mix_dir / files[0]}: sample rate {rate} Hz, expected "
                             f"{sample_rate} Hz (use the wav{sample_rate // 1000}k folder)")
        if cache is None:
            size = sum((mix_dir / f).stat().st_size for f in files[:50]) / min(50, len(files))
            cache = size * len(files) * (n_src + 1) * max(1.0, sample_rate / rate) <= DEFAULT_CACHE_BYTES
        self._cache: dict[int, np.ndarray] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.names)

    def set_epoch(self, epoch: int) -> None:
        """Reseed the random crops: same (seed, epoch) gives the same crops.

        DataLoader workers hold copies of the dataset: call this before creating the epoch's
        iterator (not with ``persistent_workers=True``, whose copies would keep the old epoch).
        """
        self.epoch = int(epoch)

    def _load(self, i: int) -> np.ndarray:
        """All signals of item ``i`` as ``[1 + S, T]`` (mix first), int16 when cacheable."""
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        sigs = []
        for sub in ["mix"] + [f"s{k}" for k in range(1, self.n_src + 1)]:
            path = self.folder / sub / f"{self.names[i]}.wav"
            x, sr = read_audio(path)
            if sr != self.sample_rate and self.resample and x.ndim == 1:
                x, sr = resample_audio(x, sr, self.sample_rate), self.sample_rate
            if sr != self.sample_rate or x.ndim != 1:
                raise ValueError(f"{path}: expected mono {self.sample_rate} Hz, got "
                                 f"{x.shape[0] if x.ndim > 1 else 1} channel(s) at {sr} Hz")
            if sigs and len(x) != sigs[0].shape[0]:
                raise ValueError(f"{path}: {len(x)} samples but the mixture has {len(sigs[0])}")
            sigs.append(x)
        out = np.stack(sigs)
        if self._cache is not None:
            q = out * 32768.0
            # 16-bit files (all of wsj0-2mix) round-trip exactly and take half the memory.
            if np.array_equal(q, np.rint(q)) and np.abs(q).max() <= 32768:
                out = np.clip(q, -32768, 32767).astype(np.int16)
            self._cache[i] = out
        return out

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        sig = self._load(i)
        n = sig.shape[-1]
        if self.segment is not None and n > self.segment:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            start = int(rng.integers(0, n - self.segment + 1))
            sig = sig[:, start:start + self.segment]  # crop before converting: less copying
        x = sig.astype(np.float32) / 32768.0 if sig.dtype == np.int16 else sig.copy()
        if self.segment is not None and n < self.segment:
            x = np.pad(x, ((0, 0), (0, self.segment - n)))
        x = torch.from_numpy(np.ascontiguousarray(x))
        return x[0], x[1:], self.names[i]


def _check_split(root: Path, split: str) -> Path:
    if not (root / FOLDER[split]).is_dir():
        raise ValueError(f"{root}: no '{FOLDER[split]}' split; expected a wsj0-2mix root holding "
                         "tr/, cv/, tt/ (for real WSJ0-2mix e.g. .../2speakers/wav8k/min)")
    return root / FOLDER[split]


def test_conditions(root: str | Path) -> dict[str, Path]:
    """The two evaluation sets: ``{"closed": seen speakers, "open": unseen speakers}``.

    ``open`` is ``root/tt`` (WSJ0-2mix's test speakers never occur in tr/cv). ``closed`` is
    ``root/tt_closed`` where it exists (the synthetic corpus: seen speakers, held-out
    utterances). Real WSJ0-2mix has no such split; there the cv set (speakers seen in
    training, different utterances) stands in, as in the uPIT paper (Kolbaek et al. 2017),
    whose "closed condition" results are on the cv set.
    """
    root = Path(root)
    conditions = {"open": _check_split(root, "open")}
    closed = root / FOLDER["closed"]
    conditions["closed"] = closed if closed.is_dir() else _check_split(root, "valid")
    return {c: conditions[c] for c in CONDITIONS}


test_conditions.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
