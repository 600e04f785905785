"""Dynamic mixing: training mixtures made on the fly from single-speaker utterances.

With ``dynamic=True`` every epoch draws new combinations (Zeghidour & Grangier's dynamic
mixing, the "SepFormer + DM" recipe); with ``dynamic=False`` the epoch-0 combinations repeat
every epoch (a static training set of the same size). The recipe (levels, gains, noise) is
:mod:`sweep.data.mixing`'s, shared with the fixed validation and test sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sweep.data.constants import Stream, stream
from sweep.data.mixing import MixRecipe, UtteranceReader, mix_sources
from sweep.data.speakers import Utterance

__all__ = ["DynamicMixDataset"]


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
        self._reader = UtteranceReader(sample_rate, cache)

    def __len__(self) -> int:
        return self.n_items

    def set_epoch(self, epoch: int) -> None:
        """New combinations for ``epoch`` (only when dynamic); call before making the iterator."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        rng = stream(self.seed, Stream.MIX, self.epoch if self.dynamic else 0, i)
        crop_rng = stream(self.seed, Stream.CROP, self.epoch, i)  # windows move every epoch
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
        mix, s, _ = mix_sources(sources, noise, rng, self.recipe, self.sample_rate)
        name = "_".join(Path(u.path).stem for u in utts)
        return torch.from_numpy(mix.astype(np.float32)), torch.from_numpy(s.astype(np.float32)), name
