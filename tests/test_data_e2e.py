"""A short study on each dataset kind through the real driver (Ray Tune + Optuna + the store)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sweep.driver.launch import launch
from sweep.spec import parse_spec
from sweep.store import Store
from tests.data_corpora import study, synth_utterances, write_librimix, write_speakers, write_wsj0mix

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def utts():
    return synth_utterances(8, 4)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEP_RUNS", str(tmp_path / "ray"))
    monkeypatch.setenv("SWEEP_DATA", str(tmp_path / "cache"))
    return tmp_path


def run(tmp_path: Path, text: str):
    spec = parse_spec(text, str(tmp_path / "spec.yaml"))
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    outcome = launch(spec, url, out=io.StringIO())
    store = Store(url)
    trials, results, _ = store.frames(spec.study)
    return outcome, trials, results


def test_speakers_flac_16k_with_dynamic_mixing_swept(env, utts, ray_local):
    root = write_speakers(env / "LibriSpeech", utts)  # FLAC at 16 kHz, speaker/chapter/*.flac
    text = study(f"{{kind: speakers, root: {root}, sample_rate: 16000, n_train: 8, n_valid: 2, n_test: 2}}",
                 study="spk", extra_train="  dynamic_mixing: {choice: [true, false]}")
    outcome, trials, results = run(env, text)
    assert outcome.finished == outcome.planned == 2 and outcome.failed == 0
    assert sorted(p["train.dynamic_mixing"] for p in trials["params"]) == [False, True]
    assert set(results["condition"]) == {"closed", "open"} and (results["n_utterances"] == 2).all()
    assert (env / "cache").is_dir()  # the fixed valid/test mixtures were written to the cache


def test_librimix_with_metadata_csv(env, utts, ray_local):
    root = write_librimix(env / "Libri2Mix" / "wav8k" / "min", utts)
    outcome, _, results = run(env, study(f"{{kind: librimix, root: {root}, subset: train-100, n_test: 2}}",
                                         study="libri", masks=("AM", "PSM"), sampler="random", n_trials=1))
    assert outcome.finished == 1 and outcome.failed == 0
    assert len(results) == 4 and set(results["condition"]) == {"closed", "open"}


def test_wsj0_3mix_resampled_to_16k(env, utts, ray_local):
    root = write_wsj0mix(env / "wsj0-3mix", utts, n_src=3, sizes={"tr": 8, "cv": 2, "tt": 2})
    outcome, trials, results = run(env, study(f"{{kind: wsj0mix, root: {root}, sample_rate: 16000, resample: true}}",
                                              study="wsj3", n_src=3, masks=("AM", "PSM"), sampler="random",
                                              n_trials=1))
    assert outcome.finished == 1 and outcome.failed == 0
    assert set(results["condition"]) == {"closed", "open"}
