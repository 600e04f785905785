"""Speakers folders, dynamic mixing, fixed sets, LibriMix metadata and resampling (no Ray)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sweep.audio import audio_info, read_wav, write_wav
from sweep.data.cache import check_data, data_root_for, data_summary, default_corpus_dir, stage_printer
from sweep.data.check import DataError, DataPlan, SplitInfo, check_dataset, check_records, wsj0mix_records
from sweep.data.constants import FOLDER, SPLITS
from sweep.data.dynamic import DynamicMixDataset
from sweep.data.mixing import MixRecipe, source_level, write_fixed_split
from sweep.data.prepare import cached_root, fill_records, make_datasets, prepare_dataset
from sweep.data.registry import KINDS, DatasetKind, Option, get_kind, register
from sweep.data.librimix import MixRecord, hold_out
from sweep.data.speakers import Utterance, scan_speakers, split_speakers
from sweep.data.spec import COMMON
from sweep.data.wsj0mix import Wsj0MixDataset
from sweep.spec import DatasetSpec, SpecError, parse_spec
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


# ----------------------------------------------------------------------------- the kind registry


def _tiny_wsj0mix(root: Path, n: int = 2) -> Path:
    """``root/{tr,cv,tt}/{mix,s1,s2}`` with ``n`` short noise mixtures each (no synthesiser)."""
    rng = np.random.default_rng(0)
    for split in ("tr", "cv", "tt"):
        for i in range(n):
            s = np.round(rng.uniform(-0.3, 0.3, (2, 800)) * 32768) / 32768
            for sub, x in (("mix", s.sum(0)), ("s1", s[0]), ("s2", s[1])):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                write_wav(root / split / sub / f"{split}{i}.wav", x, 8000)
    return root


def test_a_new_kind_is_one_registration(tmp_path, monkeypatch):
    """What docs/datasets.md promises: a DatasetKind and register() reach the spec, the checks,
    the prepared root and the trial's training set, with no other edit."""
    calls = []

    def check(ds, root, n_src):
        splits = {name: SplitInfo(name, records=wsj0mix_records(root / FOLDER[name if name != "closed" else "valid"], n_src))
                  for name in SPLITS}
        for split in splits.values():
            check_records(split, ds)
        return DataPlan(ds, n_src, root.resolve(), splits)

    def train_set(root, meta, **kw):
        calls.append((meta["kind"], kw["dynamic"], kw["segment"]))
        return ["a training set"]

    toy = DatasetKind("toy", "a folder in wsj0-2mix layout", check=check,
                      prepare=lambda plan, cache, progress: cached_root(plan, cache, progress, fill_records),
                      train_set=train_set, dynamic_default=True)
    monkeypatch.setitem(KINDS, "toy", toy)
    root = _tiny_wsj0mix(tmp_path / "corpus")
    with pytest.raises(SpecError, match=r"s\.yaml:\d+: dataset\.root: a toy dataset needs its root folder"):
        parse_spec(study("{kind: toy}"), "s.yaml")
    spec = parse_spec(study(f"{{kind: toy, root: {root}}}"), "s.yaml")
    plan = check_data(spec)
    assert [len(s.records) for s in plan.splits.values()] == [2, 2, 2, 2]
    assert "train   2 mixtures" in data_summary(spec, plan)
    prepared = prepare_dataset(plan, tmp_path / "cache")
    assert prepared.name.startswith("toy-") and (prepared / "tt" / "mix" / "tt0.wav").is_symlink()
    train, valid = make_datasets(prepared, 2, 400, 8000, seed=0)
    assert train == ["a training set"] and calls == [("toy", True, 400)] and len(valid) == 2


def test_registry_refuses_clashes_and_half_kinds():
    with pytest.raises(ValueError, match="already registered"):
        register(DatasetKind("speakers", "again", check=lambda *a: None, prepare=lambda *a: None))
    with pytest.raises(ValueError, match="either check"):
        DatasetKind("nothing", "neither check nor generate")
    with pytest.raises(ValueError, match="needs prepare"):
        DatasetKind("half", "check without prepare", check=lambda *a: None)
    late = DatasetKind("late", "options after DatasetSpec", options=(Option("late_key", int, 1),),
                       generate=lambda *a: None)
    with pytest.raises(ValueError, match="sweep/data/kinds.py"):
        register(late)
    assert "late" not in KINDS
    with pytest.raises(KeyError, match="known: default, wsj0mix, librimix, speakers"):
        get_kind("nope")


def test_each_kind_owns_its_options_and_every_kind_accepts_them():
    owners = {o.name: k.name for k in KINDS.values() for o in k.options}
    assert owners == {"subset": "librimix", "mixture": "librimix", "unseen_speakers": "speakers",
                      "min_utterances": "speakers", "noise": "speakers"}
    assert {f.name for f in dataclasses.fields(DatasetSpec)} == set(owners) | {o.name for o in COMMON}
    spec = parse_spec(study("{kind: wsj0mix, root: /x, subset: train-360, min_utterances: 5}"), "s.yaml")
    assert spec.dataset.subset == "train-360" and spec.dataset.min_utterances == 5  # YAML compatibility
    assert DatasetSpec().level_dbfs == MixRecipe().level_dbfs == -25.0


@pytest.mark.parametrize("entry, message", [
    ("kind: wav", "dataset.kind: unknown dataset kind 'wav' (known: default, wsj0mix, librimix, speakers)"),
    ("colour: red", "dataset.colour: unknown key (allowed: kind, level,"),
    ("subset: train-50", "dataset.subset: unknown value 'train-50' (known: train-100, train-360)"),
    ("mixture: noisy", "dataset.mixture: unknown value 'noisy' (known: clean, both)"),
    ("level: loud", "dataset.level: unknown value 'loud' (known: active, rms, none)"),
    ("sample_rate: 44100", "dataset.sample_rate: 8000 or 16000 (Hz)"),
    ("n_train: 0", "dataset.n_train: must be > 0, got 0"),
    ("seed: x", "dataset.seed: expected a integer, got 'x'"),
    ("resample: 3", "dataset.resample: expected a boolean, got 3"),
    ("rel_level_db: -1", "dataset.rel_level_db: must be >= 0, got -1.0"),
    ("unseen_speakers: 1.5", "dataset.unseen_speakers: a fraction of the speakers, in (0, 1), got 1.5"),
    ("unseen_speakers: 0", "dataset.unseen_speakers: must be > 0, got 0.0"),
    ("noise_snr_db: 3", "dataset.noise_snr_db: expected [low, high] in dB"),
    ("noise_snr_db: [5, 0]", "dataset.noise_snr_db: empty range: low 5.0 > high 0.0"),
])
def test_dataset_errors_are_located(entry, message):
    text = study("{kind: speakers, root: /x}").replace("dataset: {kind: speakers, root: /x}",
                                                       f"dataset:\n  root: /x\n  {entry}")
    line = text.splitlines().index(f"  {entry}") + 1
    with pytest.raises(SpecError) as err:
        parse_spec(text, "s.yaml")
    assert str(err.value).startswith(f"s.yaml:{line}: {message}"), str(err.value)


def test_the_default_kind_is_generated_and_the_cache_names_it_once(tmp_path, monkeypatch, tiny_data):
    monkeypatch.setenv("SWEEP_DATA", str(tmp_path / "cache"))
    assert default_corpus_dir(0, 2000, 200, 150) == tmp_path / "cache" / "default-seed0-2000-200-150"
    spec = parse_spec(study("{kind: default}"), "s.yaml")
    assert check_data(spec) is None and "the embedded corpus (2000/200/150 mixtures, seed 0)" in data_summary(spec, None)
    with pytest.raises(DataError, match="generated"):
        check_dataset(spec.dataset, 2)
    spec = parse_spec(study(f"{{kind: default, root: {tiny_data}, seed: 3, n_train: 24, n_valid: 4, n_test: 4}}"), "s.yaml")
    out = io.StringIO()
    assert data_root_for(spec, out) == tiny_data.resolve() and out.getvalue() == ""  # cached: nothing built
    show = stage_printer(out)
    show("tr mixtures", 1, 2)
    show("tr mixtures", 2, 2)
    assert out.getvalue().splitlines() == ["  data: tr mixtures 1/2", "  data: tr mixtures 2/2"]


def test_speaker_split_and_librimix_hold_out_are_pinned():
    """The speakers split and LibriMix's closed-condition hold-out of fixed inputs, as they have
    always been drawn (constants.Stream.SPEAKER_SPLIT and HOLD_OUT)."""
    utts = [Utterance(f"/c/{s}/{i}.flac", f"spk{s}") for s in range(12) for i in range(5 + s % 3)]
    parts = split_speakers(utts, 7, 0.25, 3, 2)
    text = json.dumps({k: [u.path for u in v] for k, v in parts.items()})
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "cbac3afc77ef93e4808160c545f95556387d188998129d2ba760e24f3c4290d8"
    _, closed = hold_out([MixRecord(f"m{i}", Path(f"/m{i}"), ()) for i in range(40)], 6, 3)
    assert hashlib.sha256(json.dumps([r.name for r in closed]).encode()).hexdigest() == \
        "d59a012d6df0072097aa1162e4b055bc6126729f7270d65ad125f3eec0e4d830"
