"""Speakers folders, dynamic mixing, fixed sets, LibriMix metadata and resampling (no Ray)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sweep.audio import audio_info, read_wav
from sweep.data.check import check_dataset
from sweep.data.dynamic import DynamicMixDataset, MixRecipe, source_level, write_fixed_split
from sweep.data.prepare import make_datasets, prepare_dataset
from sweep.data.speakers import scan_speakers
from sweep.data.wsj0mix import Wsj0MixDataset
from sweep.spec import DatasetSpec, parse_spec
from tests.data_corpora import study, synth_utterances, write_librimix, write_speakers, write_wsj0mix


@pytest.fixture(scope="module")
def utts():
    return synth_utterances(8, 4)


@pytest.fixture(scope="module")
def flac_root(utts, tmp_path_factory) -> Path:
    return write_speakers(tmp_path_factory.mktemp("spk") / "LibriSpeech", utts)


def speakers_plan(root: Path, n_src: int = 2, **kw):
    ds = DatasetSpec("speakers", str(root), **{"sample_rate": 16000, "n_train": 10, "n_valid": 3, "n_test": 3, **kw})
    return check_dataset(ds, n_src)


def test_librispeech_vctk_and_manifest_layouts_find_the_same_speakers(flac_root, tmp_path):
    libri = scan_speakers(flac_root)
    assert len(libri) == 32 and {u.speaker for u in libri} == {str(s) for s in range(100, 108)}
    vctk = tmp_path / "vctk"
    for u in libri:  # speaker/*.flac
        (vctk / u.speaker).mkdir(parents=True, exist_ok=True)
        (vctk / u.speaker / Path(u.path).name).symlink_to(u.path)
    assert sorted((Path(u.path).name, u.speaker) for u in scan_speakers(vctk)) == \
        sorted((Path(u.path).name, u.speaker) for u in libri)
    manifest = tmp_path / "list.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "speaker"])
        w.writerows([str(Path(u.path).relative_to(flac_root.parent)) if i % 2 else u.path, f"s{u.speaker}"]
                    for i, u in enumerate(libri))
    (tmp_path / "LibriSpeech").symlink_to(flac_root)
    listed = scan_speakers(manifest)
    assert len(listed) == 32 and all(Path(u.path).is_file() and u.speaker.startswith("s1") for u in listed)


def test_seen_and_unseen_speakers_and_disjoint_utterances(flac_root):
    plan = speakers_plan(flac_root, unseen_speakers=0.25)
    sp = {k: s.speakers for k, s in plan.splits.items()}
    assert len(sp["open"]) == 2 and not sp["open"] & (sp["train"] | sp["valid"] | sp["closed"])
    assert sp["train"] == sp["valid"] == sp["closed"]  # closed condition: seen speakers
    paths = {k: {u.path for u in s.utterances} for k, s in plan.splits.items()}
    assert sum(map(len, paths.values())) == 32 and len(set.union(*paths.values())) == 32
    assert plan.splits["train"].rates == {16000}
    text = plan.summary()
    for word in ("10 mixtures/epoch (dynamic mixing)", "open", "h,", "16000 Hz", "p5/p50/p95"):
        assert word in text


def test_dynamic_mixing_draws_new_pairs_each_epoch_and_is_reproducible(flac_root):
    pool = speakers_plan(flac_root).splits["train"].utterances
    ds = DynamicMixDataset(pool, 2, 4000, 16000, n_items=12, seed=3, recipe=MixRecipe(rel_level_db=5.0))
    first = [ds[i] for i in range(12)]
    for mix, src, name in first:
        assert mix.shape == (4000,) and src.shape == (2, 4000) and mix.dtype == torch.float32
        assert torch.allclose(mix, src.sum(0), atol=1e-6)
        a, b = name.split("_")
        assert a.split("-")[0] != b.split("-")[0]  # two different speakers
        levels = [20 * np.log10(source_level(s.numpy(), "active", 16000)) for s in src]
        assert abs(levels[0] - levels[1]) <= 5.0 + 1e-6  # the relative-level range holds
    assert all(torch.equal(first[i][0], ds[i][0]) for i in range(12))  # (seed, epoch, i) only
    ds.set_epoch(1)
    assert [ds[i][2] for i in range(12)] != [n for _, _, n in first]  # new combinations
    static = DynamicMixDataset(pool, 2, 4000, 16000, n_items=12, seed=3, dynamic=False)
    names0 = [static[i][2] for i in range(12)]
    static.set_epoch(5)
    assert [static[i][2] for i in range(12)] == names0  # static: the same pairs every epoch


def test_three_speakers_noise_and_resampling_on_load(flac_root, tmp_path, utts):
    noise = tmp_path / "noise"
    noise.mkdir()
    sf.write(str(noise / "hum.flac"), np.random.default_rng(0).normal(0, 0.1, 48000), 16000)
    plan = speakers_plan(flac_root, n_src=3, sample_rate=8000, resample=True, noise=str(noise),
                         noise_snr_db=(0.0, 0.0), unseen_speakers=0.4)
    assert plan.needs_resampling and len(plan.noise) == 1
    root = prepare_dataset(plan, tmp_path / "cache")
    train, valid = make_datasets(root, 3, 4000, 8000, seed=0)
    mix, src, _ = train[0]
    assert mix.shape == (4000,) and src.shape == (3, 4000)
    residual = (mix - src.sum(0)).numpy()  # the noise, at 0 dB SNR against the speech
    assert 20 * np.log10(np.std(src.sum(0).numpy()) / np.std(residual)) == pytest.approx(0.0, abs=0.5)
    tt = root / "tt"
    assert audio_info(next((tt / "mix").iterdir()))[0] == 8000 and (tt / "s3").is_dir() and (tt / "noise").is_dir()
    assert len(valid) == 3


def test_fixed_sets_are_exact_sums_and_byte_identical_for_a_seed(flac_root, tmp_path):
    pool = speakers_plan(flac_root).splits["open"].utterances
    for out in ("a", "b"):
        write_fixed_split(tmp_path / out, pool, 4, 2, 16000, seed=5, tag=2)
    names = sorted(p.name for p in (tmp_path / "a" / "mix").iterdir())
    assert len(names) == 4
    for n in names:
        assert (tmp_path / "a" / "mix" / n).read_bytes() == (tmp_path / "b" / "mix" / n).read_bytes()
        mix, s1, s2 = (np.rint(read_wav(tmp_path / "a" / d / n)[0] * 32768) for d in ("mix", "s1", "s2"))
        assert np.array_equal(mix, s1 + s2)


def test_librimix_paths_from_another_machine_resolve_under_root(utts, tmp_path):
    root = write_librimix(tmp_path / "Libri2Mix" / "wav8k" / "min", utts)
    plan = check_dataset(DatasetSpec("librimix", str(root), n_test=3), 2)
    assert [len(plan.splits[k].records) for k in ("train", "valid", "closed", "open")] == [13, 3, 3, 3]
    assert not plan.splits["open"].speakers & plan.splits["train"].speakers
    view = prepare_dataset(plan, tmp_path / "cache")
    train, valid = make_datasets(view, 2, 2000, 8000, seed=0)
    assert len(train) == 13 and isinstance(train, Wsj0MixDataset)
    assert {p.name for p in (view / "tt_closed" / "mix").iterdir()}.isdisjoint(p.name for p in (view / "tr" / "mix").iterdir())


def test_wsj0mix_resampled_on_load_and_dynamic_mixing_from_its_sources(utts, tmp_path):
    root = write_wsj0mix(tmp_path / "wsj", utts, n_src=3, sizes={"tr": 6, "cv": 2, "tt": 2})
    ds8 = Wsj0MixDataset(root / "tr", n_src=3, sample_rate=8000)
    ds16 = Wsj0MixDataset(root / "tr", n_src=3, sample_rate=16000, resample=True)
    assert ds16[0][0].shape[0] == 2 * ds8[0][0].shape[0] and ds16[0][1].shape[0] == 3
    train, _ = make_datasets(root, 3, 1000, 8000, seed=0, dynamic_mixing=True)
    assert isinstance(train, DynamicMixDataset) and train[0][1].shape == (3, 1000)
    assert set(train.speakers) <= {str(s) for s in range(100, 108)}


def test_spec_accepts_dataset_settings_and_a_swept_dynamic_mixing(tmp_path):
    text = study("{kind: speakers, root: /x, sample_rate: 16000, resample: true, level: rms, rel_level_db: 2.5, "
                 "noise: /n, noise_snr_db: [0, 5], unseen_speakers: 0.3, min_utterances: 4}",
                 extra_train="  dynamic_mixing: {choice: [true, false]}")
    spec = parse_spec(text, "s.yaml")
    assert spec.dataset.noise_snr_db == (0.0, 5.0) and spec.dataset.level == "rms" and spec.dataset.resample
    assert spec.grid_size() == 2 and spec.space["train.dynamic_mixing"].values == (True, False)
    for bad, msg in (("{kind: speakers}", "needs its root"), ("{kind: librimix, root: /x, subset: train-50}", "train-360"),
                     ("{kind: wsj0mix, root: /x, sample_rate: 44100}", "8000 or 16000")):
        with pytest.raises(ValueError, match=msg):
            parse_spec(study(bad), "s.yaml")
    with pytest.raises(ValueError, match="train.dynamic_mixing: expected a boolean"):
        parse_spec(study("{kind: speakers, root: /x}", extra_train="  dynamic_mixing: 3"), "s.yaml")
