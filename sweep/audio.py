"""WAV input/output with the standard library's ``wave`` module and numpy; FLAC through soundfile.

Integer PCM only (8/16/24/32-bit), which covers WSJ0-2mix, LibriMix and everything this
project writes. Writing is always 16-bit PCM, mono or multi-channel, with deterministic bytes
(no timestamps or extra chunks), so a generated corpus can be compared by hash.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

__all__ = ["read_wav", "write_wav", "wav_info", "to_pcm16", "audio_info", "read_audio", "resample",
           "AUDIO_SUFFIXES"]

_INT16_SCALE = 32768.0


def wav_info(path: str | Path) -> tuple[int, int, int]:
    """Return ``(sample_rate Hz, n_channels, n_frames samples)`` from the header alone."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            return w.getframerate(), w.getnchannels(), w.getnframes()
    except (wave.Error, EOFError, OSError) as exc:
        raise ValueError(f"{path}: cannot read WAV header ({exc})") from exc


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an integer-PCM WAV file.

    Returns:
        ``(x, sample_rate)``: ``x`` is float32 in [-1, 1), shape ``[T]`` for mono files and
        ``[C, T]`` for multi-channel ones (T in samples); ``sample_rate`` in Hz.

    Raises:
        ValueError: naming the file, if it is missing, not a WAV, compressed, float or truncated.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            n_ch, width, sr, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError, OSError) as exc:
        # wave.Error covers float (format 3) and compressed files: say what *is* supported.
        raise ValueError(f"{path}: not a readable integer-PCM WAV file ({exc})") from exc
    if len(raw) != n * n_ch * width:
        raise ValueError(f"{path}: truncated WAV data ({len(raw)} of {n * n_ch * width} bytes)")
    if width == 1:  # 8-bit WAV is unsigned with a 128 offset
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / _INT16_SCALE
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = (np.frombuffer(raw, "<i4").astype(np.float64) / float(1 << 31)).astype(np.float32)
    else:
        raise ValueError(f"{path}: unsupported sample width of {width} bytes")
    if n_ch > 1:
        x = np.ascontiguousarray(x.reshape(-1, n_ch).T)
    return x, sr


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Quantise float samples to int16: scale by 32768, round to nearest, clip to [-1, 1).

    Kept public so generators can do arithmetic on exactly the values that will be stored.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantise non-finite samples (NaN or inf) to PCM")
    return np.clip(np.rint(x * _INT16_SCALE), -32768, 32767).astype("<i2")


def write_wav(path: str | Path, x: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM. ``x``: float ``[T]`` (mono) or ``[C, T]``, nominal range [-1, 1).

    Integer arrays (int16) are written unchanged, which lets callers store pre-quantised data.
    """
    path = Path(path)
    x = np.asarray(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"{path}: expected [T] or [C, T] samples, got shape {x.shape}")
    pcm = x.astype("<i2") if x.dtype == np.int16 else to_pcm16(x)
    n_ch = 1 if pcm.ndim == 1 else pcm.shape[0]
    frames = pcm if pcm.ndim == 1 else pcm.T  # interleave channels
    with wave.open(str(path), "wb") as w:
        w.setnchannels(n_ch)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(np.ascontiguousarray(frames).tobytes())


# --------------------------------------------------------------------------- any format

AUDIO_SUFFIXES = (".wav", ".flac")


def audio_info(path: str | Path) -> tuple[int, int, int]:
    """``(sample_rate Hz, n_channels, n_frames samples)`` of a WAV or FLAC file, header only.

    WAV goes through :func:`wav_info` plus a size check (a truncated data chunk is caught
    here, not halfway through training); FLAC through soundfile (libsndfile).

    Raises:
        ValueError: naming the file, if it is missing or not a readable WAV/FLAC file.
    """
    path = Path(path)
    if path.suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as w:
                sr, ch, n, width = w.getframerate(), w.getnchannels(), w.getnframes(), w.getsampwidth()
        except (wave.Error, EOFError, OSError) as exc:
            raise ValueError(f"{path}: not a readable integer-PCM WAV file ({exc})") from exc
        # 44 bytes is the smallest header; a file shorter than header + data is truncated.
        if path.stat().st_size < 44 + n * ch * width:
            raise ValueError(f"{path}: truncated WAV data ({path.stat().st_size} bytes for {n} frames)")
        return sr, ch, n
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise ValueError(f"{path}: not a readable audio file ({exc})") from exc
    return int(info.samplerate), int(info.channels), int(info.frames)


def read_audio(path: str | Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Read ``frames`` samples from ``start`` (both in the file's own rate) of a WAV/FLAC file.

    Returns ``(x, sample_rate)`` with ``x`` float32 ``[T]`` (mono) or ``[C, T]``. FLAC seeks,
    so a 2 s crop of a 15 s utterance decodes only about 2 s.
    """
    path = Path(path)
    if path.suffix.lower() == ".wav" and start == 0 and frames < 0:
        return read_wav(path)
    import soundfile as sf

    try:
        x, sr = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:
        raise ValueError(f"{path}: not a readable audio file ({exc})") from exc
    x = x[:, 0] if x.shape[1] == 1 else np.ascontiguousarray(x.T)
    return x, int(sr)


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy ``resample_poly``); float32 out."""
    if from_rate == to_rate:
        return x
    import math

    from scipy.signal import resample_poly

    g = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(x, to_rate // g, from_rate // g, axis=-1).astype(np.float32)
