"""``sweep separate``: one WAV per speaker per input at the input's rate; long files in chunks
whose speaker order is aligned on the overlap and whose seams are cross-faded, so a model with a
finite receptive field gives the same output chunked as in one pass; bad input exits 2 with one
line and writes nothing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sweep import checkpoints, models
from sweep.audio import read_audio, write_wav
from sweep.checkpoints import BestWeights, ModelCard
from sweep.cli import main
from sweep.inference.chunks import GRID, ChunkPlan, align, fade_in, separate_chunked
from sweep.inference.separate import plan_jobs, resample, separate_files, separate_waveform
from sweep.spec import load_spec
from sweep.store import Store

SR = 8000
# Conv-TasNet's cpu preset with batch norm: no utterance-wide statistics, so its output at t
# depends on a window of inputs around t only (about +-500 samples; measured below).
FINITE_RF = {**models.FAMILIES["convtasnet"].presets["cpu"], "norm": "BN"}
CHUNKED_TOLERANCE = 1e-6  # max |chunked - one pass| on outputs peaking at 0.35; measured 3.0e-8
SPEC = """\
study: demo
family: convtasnet
params:
  norm: BN
train:
  epochs: 1
sampler: grid
"""


def finite_rf_model(seed: int = 0) -> models.Separator:
    torch.manual_seed(seed)
    return models.build("convtasnet", FINITE_RF, n_src=2, sample_rate=SR).eval()


class FlipsEveryOtherCall(torch.nn.Module):
    """Emits ``model``'s sources reversed on every second call: the speaker order of
    consecutive chunks disagrees, as it may for any separator."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = self.model(mixture)
        return y.flip(1) if self.calls % 2 == 0 else y


class SignFlip(models.Separator):
    """A fixed 'separator' for rate checks: sources ``[x, -x]``."""

    def __init__(self) -> None:
        super().__init__(n_src=2, sample_rate=SR)

    def forward(self, mixture: torch.Tensor) -> torch.Tensor:
        return torch.stack([mixture, -mixture], dim=1)

    def training_loss(self, mixture, sources):  # pragma: no cover - never trained
        raise NotImplementedError


def receptive_half_width(model: torch.nn.Module, length: int = 8000) -> int:
    """How far (samples) an output moves when one input sample in the middle changes."""
    x = torch.randn(1, length, generator=torch.Generator().manual_seed(1))
    y = x.clone()
    y[0, length // 2] += 1.0
    with torch.no_grad():
        moved = (model(x) - model(y)).abs().amax(dim=(0, 1)) > 0
    where = torch.nonzero(moved).flatten()
    return int(max(length // 2 - where.min(), where.max() - length // 2))


def speech_like(seconds: float, rate: int = SR, seed: int = 0) -> np.ndarray:
    """Noise with a syllable-rate envelope, peak about 0.5."""
    g = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    return (0.15 * g.standard_normal(t.size) * (0.6 + 0.4 * np.sin(2 * math.pi * 3 * t))).astype(np.float32)


# -- chunks --------------------------------------------------------------------------------
def test_chunk_plan_covers_the_input_with_equal_overlaps_on_the_frame_grid():
    plan = ChunkPlan.from_seconds(4, 1, SR)
    assert plan.hop % GRID == 0 and plan.overlap == 8000 and plan.margin == 2000
    for length in (plan.chunk, plan.chunk + 1, 480_000, 480_123):
        starts = plan.starts(length)
        ends = [min(s + plan.chunk, length) for s in starts]
        assert starts[0] == 0 and ends[-1] == length
        assert all(e - s2 == plan.overlap for e, s2 in zip(ends, starts[1:]))  # consecutive chunks share O
        assert plan.overlap < ends[-1] - starts[-1] <= plan.chunk
    assert ChunkPlan.from_seconds(4, 1, SR).starts(plan.chunk) == [0]
    for chunk_s, overlap_s in ((4, 3), (4, 0), (4, -1), (math.inf, 1)):
        with pytest.raises(ValueError, match="--overlap-s"):
            ChunkPlan.from_seconds(chunk_s, overlap_s, SR)


def test_cross_fade_weights_sum_to_one_and_leave_the_cut_edges_out():
    w = fade_in(8000, 2000)
    assert torch.all(w[:2000] == 0) and torch.all(w[-2000:] == 1)
    assert torch.all(w[1:] >= w[:-1]) and 0 < w[2000].item() < 0.01 and 0.99 < w[5999].item() < 1
    assert torch.allclose(w + (1 - w), torch.ones(8000))


@pytest.mark.parametrize("n_src", [2, 3, 4])
def test_speaker_order_is_matched_on_the_overlap(n_src):
    g = torch.Generator().manual_seed(n_src)
    previous = torch.randn(n_src, 800, generator=g)
    for perm in ([n_src - 1 - s for s in range(n_src)], torch.randperm(n_src, generator=g).tolist()):
        current = 3.0 * previous[perm] + 0.3 * torch.randn(n_src, 800, generator=g)  # other scale, some noise
        assert torch.equal(current[align(previous, current)], current[torch.argsort(torch.tensor(perm))])


def test_a_60_s_file_in_chunks_equals_one_pass(tmp_path):
    """The model's receptive field (+-499 samples) is inside the 2000-sample margins of a
    4 s / 1 s plan, and the speaker order flips from chunk to chunk: aligned and cross-faded,
    the chunked output equals one pass within CHUNKED_TOLERANCE."""
    model = finite_rf_model()
    plan = ChunkPlan.from_seconds(4, 1, SR)
    assert receptive_half_width(model) < plan.margin
    x = speech_like(60)
    write_wav(tmp_path / "long.wav", x, SR, subtype="FLOAT")
    one_pass = separate_waveform(model, x, SR, SR, None)

    flipping = FlipsEveryOtherCall(model)
    jobs = plan_jobs([tmp_path / "long.wav"], None)
    written = separate_files(flipping, SR, jobs, tmp_path / "out", None, plan)
    chunked = np.stack([read_audio(p)[0] for p in written])
    assert flipping.calls == len(plan.starts(x.size)) == 20
    assert chunked.shape == one_pass.shape == (2, 480_000)
    assert np.abs(chunked - one_pass).max() <= CHUNKED_TOLERANCE, np.abs(chunked - one_pass).max()
    assert np.abs(one_pass).max() > 0.1  # not a silent model


def test_margins_narrower_than_the_receptive_field_would_show():
    """The equality above is not for free: with 100-sample margins (a 0.05 s overlap) the
    chunks' cut edges leak into the output by more than CHUNKED_TOLERANCE."""
    model = finite_rf_model()
    x = torch.from_numpy(speech_like(12))
    narrow = ChunkPlan.from_seconds(4, 0.05, SR)
    assert narrow.margin < receptive_half_width(model)
    one_pass = separate_chunked(model, x, None)
    assert (separate_chunked(model, x, narrow) - one_pass).abs().max() > 10 * CHUNKED_TOLERANCE


def test_inputs_at_other_rates_are_resampled_in_and_out(tmp_path):
    """A 16 kHz and a 44.1 kHz file through an 8 kHz model come back at their own rate and length."""
    t = np.arange(20_000) / 16_000
    tone = (0.5 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)  # under both Nyquist rates
    write_wav(tmp_path / "wide.wav", tone, 16_000, subtype="FLOAT")
    write_wav(tmp_path / "cd.wav", speech_like(0.7, 44_100), 44_100)
    written = separate_files(SignFlip(), SR, plan_jobs([tmp_path / "wide.wav", tmp_path / "cd.wav"], None),
                             tmp_path / "out", None, None)
    assert [p.name for p in written] == ["wide_s1.wav", "wide_s2.wav", "cd_s1.wav", "cd_s2.wav"]
    assert [sf.info(str(p)).samplerate for p in written] == [16_000, 16_000, 44_100, 44_100]
    assert [sf.info(str(p)).frames for p in written] == [20_000, 20_000, 30_870, 30_870]
    s1, s2 = (read_audio(p)[0] for p in written[:2])
    middle = slice(1000, -1000)  # away from the resampling filters' edges
    assert np.abs(s1[middle] - tone[middle]).max() < 0.01 and np.abs(s2[middle] + tone[middle]).max() < 0.01


@pytest.mark.parametrize("rates", [(16_000, 8_000), (44_100, 8_000), (8_000, 44_100), (22_050, 16_000)])
def test_resampling_block_by_block_equals_one_call(rates):
    import torchaudio.functional as F

    x = torch.randn(2, 100_003, generator=torch.Generator().manual_seed(0))
    whole = F.resample(x, *rates)
    blocks = resample(x, *rates, block=30_000)  # 4 blocks, the last one short
    assert blocks.shape == whole.shape and torch.equal(blocks, whole)


# -- the command ---------------------------------------------------------------------------
def kept_study(tmp_path: Path, params: dict | None = None, family: str = "convtasnet") -> str:
    """A database with study ``demo``: trial 0 (objective 1.0) and trial 1 (2.0, the best, with
    test scores) keep checkpoints of ``family`` models; trial 2 failed and keeps none."""
    url = f"sqlite:///{tmp_path / 'sweep.db'}"
    (tmp_path / "demo.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "demo.yaml")
    store = Store(url)
    sid = store.ensure_study("demo", spec).id
    params = models.get_family(family).resolve(FINITE_RF if params is None else params)
    for number, status, value in ((0, "complete", 1.0), (1, "complete", 2.0), (2, "failed", None)):
        store.trial_queued(sid, number, spec.resolve_trial({}))
        uri = None
        if status == "complete":
            torch.manual_seed(number)
            model = models.build(family, params, n_src=2, sample_rate=SR)
            best = BestWeights()
            best.offer(1, value, model)
            uri = str(tmp_path / "runs" / f"trial_{number}")
            checkpoints.write(Path(uri), ModelCard(family, params, 2, SR, model.param_count(), "demo", number),
                              best, None)
        store.update_trial(sid, number, status=status, objective_value=value, checkpoint_uri=uri)
    store.add_results(sid, 1, [{"condition": c, "assignment": "default", "n_utterances": 4, "si_snri": 5.5 + i,
                                "sdri": 6.0 + i} for i, c in enumerate(("closed", "open"))])
    store.engine.dispose()
    return url


def _cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_separate_writes_one_wav_per_speaker_with_the_best_trial(tmp_path, capsys):
    url = kept_study(tmp_path)
    write_wav(tmp_path / "meeting.wav", speech_like(1.5), SR)
    write_wav(tmp_path / "call.wav", speech_like(0.9, 16_000, seed=1), 16_000)
    rc, out, err = _cli(capsys, "separate", "demo", "--best", tmp_path / "meeting.wav", tmp_path / "call.wav",
                        "-o", tmp_path / "out", "--storage", url)
    assert rc == 0, err
    assert "trial 1 (convtasnet" in out and "2 file(s) -> 4 WAV(s)" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "call_s1.wav", "call_s2.wav", "meeting_s1.wav", "meeting_s2.wav"]
    assert sf.info(str(tmp_path / "out" / "call_s2.wav")).samplerate == 16_000
    # The best trial's weights, in one pass (1.5 s fits a 20 s chunk):
    model, _ = checkpoints.load_separator(str(tmp_path / "runs" / "trial_1"))
    expected = separate_waveform(model, read_audio(tmp_path / "meeting.wav")[0], SR, SR, None)
    got = np.stack([read_audio(tmp_path / "out" / f"meeting_s{s}.wav")[0] for s in (1, 2)])
    assert np.abs(got - expected).max() < 1e-6


def test_channel_k_of_a_multichannel_file(tmp_path, capsys):
    url = kept_study(tmp_path)
    stereo = np.stack([speech_like(1.0, seed=2), speech_like(1.0, seed=3)])
    write_wav(tmp_path / "stereo.wav", stereo, SR, subtype="FLOAT")
    rc, _, err = _cli(capsys, "separate", "demo", "--trial", 0, tmp_path / "stereo.wav", "--channel", 1,
                      "-o", tmp_path / "out", "--storage", url)
    assert rc == 0, err
    model, _ = checkpoints.load_separator(str(tmp_path / "runs" / "trial_0"))
    expected = separate_waveform(model, stereo[1], SR, SR, None)
    assert np.abs(read_audio(tmp_path / "out" / "stereo_s2.wav")[0] - expected[1]).max() < 1e-6


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[list, str]]:
    write_wav(tmp_path / "ok.wav", speech_like(0.5), SR)
    write_wav(tmp_path / "stereo.wav", np.zeros((2, 800)), SR)
    (tmp_path / "notes.wav").write_text("not audio\n")
    (tmp_path / "a").mkdir()
    write_wav(tmp_path / "a" / "ok.wav", speech_like(0.5), SR)
    ok = tmp_path / "ok.wav"
    return {
        "missing file": (["demo", "--best", tmp_path / "gone.wav"], "gone.wav"),
        "not audio": (["demo", "--best", ok, tmp_path / "notes.wav"], "notes.wav: not a readable audio file"),
        "unknown study": (["nope", "--best", ok], "no study named 'nope'"),
        "unknown trial": (["demo", "--trial", 7, ok], "study demo has no trial 7"),
        "no kept checkpoint": (["demo", "--trial", 2, ok], "trial 2 of study demo (failed) has no kept checkpoint"),
        "multi-channel": (["demo", "--best", tmp_path / "stereo.wav"], "2 channels; separate one of them with --channel"),
        "no such channel": (["demo", "--best", ok, "--channel", 1], "--channel 1, but the file has 1 channel(s)"),
        "same stem twice": (["demo", "--best", ok, tmp_path / "a" / "ok.wav"], "would both write ok_s1.wav"),
        "overlap too long": (["demo", "--best", ok, "--overlap-s", 15], "--overlap-s 15 must be"),
    }


@pytest.mark.parametrize("case", ["missing file", "not audio", "unknown study", "unknown trial", "no kept checkpoint",
                                  "multi-channel", "no such channel", "same stem twice", "overlap too long"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    url = kept_study(tmp_path)
    argv, words = _bad_inputs(tmp_path)[case]
    rc, out, err = _cli(capsys, "separate", *argv, "-o", tmp_path / "out", "--storage", url)
    assert rc == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and err.startswith("sweep: ") and words in err, err
    assert not (tmp_path / "out").exists()


def test_a_missing_database_is_not_created(tmp_path, capsys):
    write_wav(tmp_path / "ok.wav", speech_like(0.5), SR)
    url = f"sqlite:///{tmp_path / 'none.db'}"
    rc, _, err = _cli(capsys, "separate", "demo", "--best", tmp_path / "ok.wav", "-o", tmp_path / "out", "--storage", url)
    assert rc == 2 and "there is no database at" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "none.db").exists()
