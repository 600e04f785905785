"""Recordings in, one WAV per speaker out: ``meeting.wav`` -> ``OUT/meeting_s1.wav``, ``meeting_s2.wav``.

Each input is read whole (soundfile: WAV, FLAC, ...; mono, or one channel of a multi-channel
file with ``channel``), resampled to the model's rate when it differs (:func:`resample`, block by
block), separated in overlapping chunks (:mod:`sweep.inference.chunks`), resampled back and
written at the input's rate with exactly the input's number of samples, as 32-bit float WAV: the
separator's output level as it is, without clipping or rescaling (models trained on SI-SNR fix no
output scale). Memory: the recording, its resampled copy and the outputs whole (4 bytes a
sample), the model's activations for one chunk.

Every input is checked (readable audio, channel, distinct output names) before the first is
separated, so bad input stops the command before it writes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sweep.audio import audio_info, read_audio, write_wav
from sweep.inference.chunks import ChunkPlan, separate_chunked


class InputError(ValueError):
    """A bad input file or option: one line naming it (the command exits 2)."""


@dataclass(frozen=True)
class Job:
    """One input file, checked: its rate (Hz), channels and length (samples)."""

    path: Path
    rate: int
    channels: int
    frames: int

    def outputs(self, out_dir: Path, n_src: int) -> list[Path]:
        """``OUT/STEM_s1.wav`` ... ``OUT/STEM_sS.wav``: speaker ``s`` in ``outputs[s - 1]``."""
        return [out_dir / f"{self.path.stem}_s{s + 1}.wav" for s in range(n_src)]


def plan_jobs(inputs: Sequence[Path], channel: int | None) -> list[Job]:
    """Check every input's header before anything is separated.

    Raises:
        InputError: a missing or unreadable file, a multi-channel file without ``channel``, a
            channel it does not have, an empty file, or two inputs with the same stem (their
            outputs would collide).
    """
    jobs: list[Job] = []
    seen: dict[str, Path] = {}
    for path in map(Path, inputs):
        try:
            rate, channels, frames = audio_info(path)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if channels > 1 and channel is None:
            raise InputError(f"{path}: {channels} channels; separate one of them with --channel K (0 to {channels - 1})")
        if channel is not None and not 0 <= channel < channels:
            raise InputError(f"{path}: --channel {channel}, but the file has {channels} channel(s) (0 to {channels - 1})")
        if frames == 0:
            raise InputError(f"{path}: no samples")
        if path.stem in seen:
            raise InputError(f"{seen[path.stem]} and {path} would both write {path.stem}_s1.wav; "
                             "rename one or separate them into different folders")
        seen[path.stem] = path
        jobs.append(Job(path, rate, channels, frames))
    return jobs


def read_channel(path: Path, channel: int | None) -> tuple[np.ndarray, int]:
    """``([T] float32, rate Hz)``: the file's samples, or its channel ``channel`` (0-based)."""
    try:
        x, rate = read_audio(path)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return (x if x.ndim == 1 else x[channel or 0]), rate


RESAMPLE_BLOCK = 1 << 20  # input samples per block of resampling (bounds its intermediates)


def resample(x: torch.Tensor, from_rate: int, to_rate: int, block: int = RESAMPLE_BLOCK) -> torch.Tensor:
    """``[..., T]`` at ``from_rate`` Hz -> ``[..., ceil(T to_rate / from_rate)]`` at ``to_rate`` Hz:
    ``torchaudio.functional.resample`` (windowed sinc, 6 zero crossings), block by block.

    ``torchaudio`` resamples in periods of ``a = from_rate / gcd`` input samples (``b = to_rate / gcd``
    output samples). Blocks start on that period and each reads enough context beyond its edges
    for the filter, so the result equals one call on the whole signal (tests/test_separate.py),
    while the filter's intermediates hold one block, not the whole recording.
    """
    if from_rate == to_rate:
        return x
    import torchaudio.functional as F

    g = math.gcd(from_rate, to_rate)
    a, b = from_rate // g, to_rate // g
    width = math.ceil(6 * a / (min(a, b) * 0.99))  # torchaudio's filter half-width, input samples
    context = a * math.ceil((width + 1) / a)
    step = a * max(1, math.ceil(block / a))
    length = x.shape[-1]
    if length <= step:
        return F.resample(x, from_rate, to_rate)
    pieces = []
    for start in range(0, length, step):
        end = min(start + step, length)
        lo = max(0, start - context)
        y = F.resample(x[..., lo:min(length, end + context)], from_rate, to_rate)
        first = (start - lo) // a * b
        last = math.ceil(end * b / a) - lo // a * b
        pieces.append(y[..., first:last])
    return torch.cat(pieces, dim=-1)


def separate_waveform(model: torch.nn.Module, x: np.ndarray, rate: int, model_rate: int, plan: ChunkPlan | None,
                      device: torch.device | str = "cpu") -> np.ndarray:
    """Separate one mixture at its own rate.

    Args:
        model: separator in eval mode on ``device``, at ``model_rate`` Hz.
        x: ``[T]`` float samples at ``rate`` Hz.
        plan: chunks in samples at ``model_rate`` (:meth:`ChunkPlan.from_seconds`), or None for one pass.

    Returns:
        ``[S, T]`` float32 at ``rate`` Hz, exactly ``T`` samples.
    """
    mixture = resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), rate, model_rate)
    y = resample(separate_chunked(model, mixture, plan, device), model_rate, rate)
    length = x.shape[-1]
    if y.shape[-1] < length:
        y = torch.nn.functional.pad(y, (0, length - y.shape[-1]))
    return y[:, :length].numpy()


def separate_files(model: torch.nn.Module, model_rate: int, jobs: Sequence[Job], out_dir: Path,
                   channel: int | None, plan: ChunkPlan | None, device: torch.device | str = "cpu",
                   progress: Callable[[str], None] | None = None) -> list[Path]:
    """Separate each job's file into ``out_dir`` (created); returns the WAVs written, in order."""
    written: list[Path] = []
    for job in jobs:
        x, rate = read_channel(job.path, channel)
        y = separate_waveform(model, x, rate, model_rate, plan, device)
        outputs = job.outputs(out_dir, y.shape[0])
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, source in zip(outputs, y):
            try:
                write_wav(path, source, rate, subtype="FLOAT")
            except ValueError as exc:  # soundfile could not write it
                raise InputError(str(exc)) from None
        written += outputs
        if progress is not None:
            progress(f"{job.path}: {job.frames / job.rate:.1f} s at {job.rate} Hz -> "
                     + ", ".join(str(p) for p in outputs))
    return written
