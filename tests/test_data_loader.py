"""The wsj0-2mix-layout loader and the WAV reader/writer, on small hand-made folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sweep.audio import read_wav, write_wav
from sweep.data.wsj0mix import Wsj0MixDataset, test_conditions


def make_split(folder: Path, lengths: dict[str, int], sample_rate: int = 8000,
               seed: int = 0) -> None:
    """Write ``{folder}/{mix,s1,s2}/{name}.wav`` with mix = s1 + s2 and the given lengths."""
    rng = np.random.default_rng(seed)
    for sub in ("mix", "s1", "s2"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, n in lengths.items():
        s1, s2 = (np.round(rng.uniform(-0.4, 0.4, n) * 32768) / 32768 for _ in range(2))
        for sub, x in (("mix", s1 + s2), ("s1", s1), ("s2", s2)):
            write_wav(folder / sub / f"{name}.wav", x, sample_rate)


def test_full_length_items(tmp_path: Path) -> None:
    make_split(tmp_path, {"b": 300, "a": 120})
    ds = Wsj0MixDataset(tmp_path)
    assert len(ds) == 2 and ds.names == ["a", "b"]
    mix, src, name = ds[1]
    assert name == "b" and mix.shape == (300,) and src.shape == (2, 300)
    assert mix.dtype == src.dtype == torch.float32
    assert torch.equal(mix, src.sum(0))
    ref, _ = read_wav(tmp_path / "s2" / "b.wav")
    assert torch.equal(src[1], torch.from_numpy(ref))


def test_segment_pads_short_and_crops_long(tmp_path: Path) -> None:
    make_split(tmp_path, {"short": 100, "long": 1000})
    full = Wsj0MixDataset(tmp_path)
    ds = Wsj0MixDataset(tmp_path, segment=160)
    i_long, i_short = ds.names.index("long"), ds.names.index("short")
    mix, src, _ = ds[i_short]
    assert mix.shape == (160,) and src.shape == (2, 160)
    assert torch.equal(mix[:100], full[i_short][0]) and not mix[100:].any()  # zero padding
    mix, src, _ = ds[i_long]
    assert mix.shape == (160,) and src.shape == (2, 160)
    assert torch.equal(mix, src.sum(0))  # the same window for the mixture and every source
    whole = full[i_long][0]
    start = next(s for s in range(1000 - 159) if torch.equal(whole[s:s + 160], mix))
    assert 0 <= start <= 840


def test_crops_reproducible_per_epoch_and_differ_between_epochs(tmp_path: Path) -> None:
    make_split(tmp_path, {f"u{k}": 2000 for k in range(8)})
    ds = Wsj0MixDataset(tmp_path, segment=100, seed=5)
    first = [ds[i][0] for i in range(len(ds))]
    assert all(torch.equal(a, ds[i][0]) for i, a in enumerate(first))  # no hidden state
    ds.set_epoch(1)
    second = [ds[i][0] for i in range(len(ds))]
    assert any(not torch.equal(a, b) for a, b in zip(first, second))
    ds.set_epoch(0)
    assert all(torch.equal(a, ds[i][0]) for i, a in enumerate(first))
    other_seed = Wsj0MixDataset(tmp_path, segment=100, seed=6)
    assert any(not torch.equal(a, other_seed[i][0]) for i, a in enumerate(first))


def test_cached_and_uncached_items_are_identical(tmp_path: Path) -> None:
    make_split(tmp_path, {"a": 500, "b": 700})
    cached, plain = Wsj0MixDataset(tmp_path, cache=True), Wsj0MixDataset(tmp_path, cache=False)
    for _ in range(2):  # second pass comes from the cache
        for i in range(2):
            assert all(torch.equal(x, y) for x, y in zip(cached[i][:2], plain[i][:2]))


def test_dataloader_batches(tmp_path: Path) -> None:
    make_split(tmp_path, {f"u{k}": 90 + 50 * k for k in range(5)})
    batch = next(iter(DataLoader(Wsj0MixDataset(tmp_path, segment=128), batch_size=4)))
    mix, src, names = batch
    assert mix.shape == (4, 128) and src.shape == (4, 2, 128) and len(names) == 4


def test_mismatched_source_name_is_named(tmp_path: Path) -> None:
    make_split(tmp_path, {"a": 100, "b": 100, "c": 100})
    (tmp_path / "s1" / "b.wav").rename(tmp_path / "s1" / "b_typo.wav")
    with pytest.raises(ValueError, match=r"s1.*b(_typo)?\.wav"):
        Wsj0MixDataset(tmp_path)


def test_missing_source_folder_and_wrong_rate_are_errors(tmp_path: Path) -> None:
    make_split(tmp_path / "x", {"a": 100})
    with pytest.raises(ValueError, match="s3"):
        Wsj0MixDataset(tmp_path / "x", n_src=3)
    make_split(tmp_path / "y", {"a": 100}, sample_rate=16000)
    with pytest.raises(ValueError, match="16000 Hz"):
        Wsj0MixDataset(tmp_path / "y")
    with pytest.raises(ValueError, match="mix"):
        Wsj0MixDataset(tmp_path / "nothing")


def test_length_mismatch_between_mix_and_source(tmp_path: Path) -> None:
    make_split(tmp_path, {"a": 100})
    write_wav(tmp_path / "s2" / "a.wav", np.zeros(90), 8000)
    with pytest.raises(ValueError, match=r"s2[/\\]a\.wav"):
        Wsj0MixDataset(tmp_path)[0]


def test_test_conditions_fall_back_to_cv_without_tt_closed(tmp_path: Path) -> None:
    for split in ("tr", "cv", "tt"):
        make_split(tmp_path / split, {"a": 100})
    assert test_conditions(tmp_path) == {"closed": tmp_path / "cv", "open": tmp_path / "tt"}
    make_split(tmp_path / "tt_closed", {"a": 100})
    assert test_conditions(tmp_path)["closed"] == tmp_path / "tt_closed"
    with pytest.raises(ValueError, match="tt"):
        test_conditions(tmp_path / "tr")


def test_wav_round_trip_clipping_and_bytes(tmp_path: Path) -> None:
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 1 / 32768, 0.4 / 32768], np.float64)
    write_wav(tmp_path / "a.wav", x, 8000)
    y, sr = read_wav(tmp_path / "a.wav")
    assert sr == 8000 and y.dtype == np.float32
    # clipped to [-1, 1), rounded to the nearest 16-bit step
    assert y.tolist() == [0.0, 0.5, -0.5, 32767 / 32768, -1.0, 32767 / 32768, 1 / 32768, 0.0]
    write_wav(tmp_path / "b.wav", x, 8000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    stereo = np.stack([x[:3], -x[:3]])
    write_wav(tmp_path / "c.wav", stereo, 16000)
    z, sr = read_wav(tmp_path / "c.wav")
    assert sr == 16000 and np.array_equal(z, stereo.astype(np.float32))


def test_unreadable_wav_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.wav"
    bad.write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="garbage.wav"):
        read_wav(bad)
    with pytest.raises(ValueError, match="missing.wav"):
        read_wav(tmp_path / "missing.wav")
