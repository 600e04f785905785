"""Audio input/output through soundfile (libsndfile), and polyphase resampling.

Reads any format libsndfile knows: WAV (integer PCM of 8 to 32 bits, 32/64-bit float,
WAVE_FORMAT_EXTENSIBLE), FLAC and more. Writing is 16-bit PCM unless a caller asks for another
``subtype``, with deterministic bytes (a plain 44-byte WAV header, no timestamps or extra
chunks), so a generated corpus can be compared by hash.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["read_audio", "read_wav", "write_wav", "audio_info", "to_pcm16", "resample", "AUDIO_SUFFIXES"]

AUDIO_SUFFIXES = (".wav", ".flac")  # what a folder of recordings is scanned for
_INT16_SCALE = 32768.0
_ERRORS = (RuntimeError, OSError, sf.LibsndfileError)
# libsndfile's header log of a WAV whose data chunk promises more bytes than the file holds.
_TRUNCATED = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _open(path: Path) -> sf.SoundFile:
    """The file opened for reading; ValueError naming it if unreadable or truncated."""
    try:
        f = sf.SoundFile(str(path))
    except _ERRORS as exc:
        raise ValueError(f"{path}: not a readable audio file ({exc})") from exc
    found = _TRUNCATED.search(f.extra_info) if f.format in ("WAV", "WAVEX") else None
    if found and int(found.group(2)) < int(found.group(1)):
        f.close()
        raise ValueError(f"{path}: truncated WAV data ({found.group(2)} of {found.group(1)} bytes)")
    return f


def audio_info(path: str | Path) -> tuple[int, int, int]:
    """``(sample_rate Hz, n_channels, n_frames samples)`` from the header alone.

    Raises:
        ValueError: naming the file, if it is missing, not a readable audio file, or a WAV
            whose data chunk is cut short (caught here, not halfway through training).
    """
    with _open(Path(path)) as f:
        return int(f.samplerate), int(f.channels), int(f.frames)


def read_audio(path: str | Path, start: int = 0, frames: int = -1) -> tuple[np.ndarray, int]:
    """Read ``frames`` samples from ``start`` (both at the file's own rate); ``-1``: to the end.

    Returns:
        ``(x, sample_rate)``: ``x`` float32, integer PCM scaled to [-1, 1), shape ``[T]`` for
        mono files and ``[C, T]`` for multi-channel ones; ``sample_rate`` in Hz. FLAC seeks,
        so a 2 s crop of a 15 s utterance decodes only about 2 s.

    Raises:
        ValueError: naming the file, if it is missing, unreadable or a truncated WAV.
    """
    path = Path(path)
    with _open(path) as f:
        try:
            if start:
                f.seek(start)
            x = f.read(frames, dtype="float32", always_2d=True)
        except _ERRORS as exc:
            raise ValueError(f"{path}: not a readable audio file ({exc})") from exc
        rate = int(f.samplerate)
    x = x[:, 0] if x.shape[1] == 1 else np.ascontiguousarray(x.T)
    return x, rate


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """The whole of a WAV (or any readable) file: :func:`read_audio` from the start."""
    return read_audio(path)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Quantise float samples to int16: scale by 32768, round to nearest, clip to [-1, 1).

    Kept public so generators can do arithmetic on exactly the values that will be stored.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantise non-finite samples (NaN or inf) to PCM")
    return np.clip(np.rint(x * _INT16_SCALE), -32768, 32767).astype("<i2")


def write_wav(path: str | Path, x: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> None:
    """Write a WAV file. ``x``: float ``[T]`` (mono) or ``[C, T]``, nominal range [-1, 1).

    ``subtype`` ``PCM_16`` (the default) quantises with :func:`to_pcm16`; int16 arrays are
    written unchanged, which lets callers store pre-quantised data. Any other libsndfile
    subtype (``PCM_24``, ``FLOAT``, ...) writes ``x`` as given.
    """
    path = Path(path)
    x = np.asarray(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"{path}: expected [T] or [C, T] samples, got shape {x.shape}")
    if subtype == "PCM_16":
        x = x.astype("<i2") if x.dtype == np.int16 else to_pcm16(x)
    frames = x if x.ndim == 1 else x.T  # soundfile takes [T, C]
    try:
        sf.write(str(path), frames, int(sample_rate), subtype=subtype, format="WAV")
    except _ERRORS as exc:
        raise ValueError(f"{path}: cannot write a {subtype} WAV file ({exc})") from exc


def resample(x: np.ndarray, from_rate: int, to_rate: int, dtype=np.float32) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy ``resample_poly``); ``dtype`` out."""
    if from_rate == to_rate:
        return np.asarray(x, dtype)
    from scipy.signal import resample_poly  # here: reading files need not import scipy

    g = math.gcd(int(from_rate), int(to_rate))
    return resample_poly(x, to_rate // g, from_rate // g, axis=-1).astype(dtype)
