"""Audio I/O through soundfile: float and WAVE_FORMAT_EXTENSIBLE files read (the former
``wave``-based reader refused both: "unknown format: 3" / "unknown format: 65534"),
deterministic 16-bit writing, and truncated files caught at the header."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sweep.audio import audio_info, read_audio, read_wav, resample, to_pcm16, write_wav
from sweep.data.check import checked_file
from sweep.data.spec import DatasetSpec

WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_EXTENSIBLE = 0x0001, 0x0003, 0xFFFE


def format_tag(path: Path) -> int:
    """The ``wFormatTag`` of a WAV file's ``fmt `` chunk."""
    data = path.read_bytes()
    i = data.index(b"fmt ")
    return struct.unpack("<H", data[i + 8:i + 10])[0]


def test_32_bit_float_wav_reads_back_exactly(tmp_path):
    x = np.array([0.0, 0.25, -0.75, 1.5, -2.0, 1e-6], np.float32)  # float WAVs may exceed [-1, 1]
    path = tmp_path / "float.wav"
    sf.write(str(path), x, 16000, subtype="FLOAT")
    assert format_tag(path) == WAVE_FORMAT_IEEE_FLOAT
    assert audio_info(path) == (16000, 1, 6)
    y, rate = read_audio(path)
    assert rate == 16000 and y.dtype == np.float32 and np.array_equal(y, x)
    assert np.array_equal(read_wav(path)[0], x)


@pytest.mark.parametrize("channels", [1, 3])
def test_wave_format_extensible_24_bit_reads_back_exactly(tmp_path, channels):
    steps = np.array([0, 1, -1, 2 ** 22, -(2 ** 23), 2 ** 23 - 1, 12345])  # 24-bit sample values
    x = np.stack([steps * (k + 1) % 2 ** 23 for k in range(channels)]) / 2.0 ** 23  # [C, T]
    path = tmp_path / "ext.wav"
    sf.write(str(path), x.T, 8000, subtype="PCM_24", format="WAVEX")
    assert format_tag(path) == WAVE_FORMAT_EXTENSIBLE
    assert audio_info(path) == (8000, channels, len(steps))
    y, rate = read_audio(path)
    assert rate == 8000 and y.shape == ((len(steps),) if channels == 1 else (channels, len(steps)))
    assert np.array_equal(y, x[0] if channels == 1 else x)


def test_float_and_extensible_files_pass_the_dataset_checks(tmp_path):
    ds = DatasetSpec("speakers", str(tmp_path), sample_rate=8000)
    sf.write(str(tmp_path / "f.wav"), np.full(80, 0.1, np.float32), 8000, subtype="FLOAT")
    sf.write(str(tmp_path / "e.wav"), np.full(80, 0.1), 8000, subtype="PCM_24", format="WAVEX")
    assert checked_file(tmp_path / "f.wav", ds) == checked_file(tmp_path / "e.wav", ds) == (8000, 80)


def test_16_bit_writes_are_plain_pcm_and_byte_identical_to_the_wave_module(tmp_path):
    rng = np.random.default_rng(0)
    for shape in [(0,), (1000,), (2, 300)]:
        x = rng.uniform(-1.2, 1.2, shape)
        write_wav(tmp_path / "ours.wav", x, 8000)
        pcm = to_pcm16(x)
        with wave.open(str(tmp_path / "std.wav"), "wb") as w:  # what the corpus was written with before
            w.setnchannels(1 if pcm.ndim == 1 else pcm.shape[0])
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(np.ascontiguousarray(pcm if pcm.ndim == 1 else pcm.T).tobytes())
        ours = (tmp_path / "ours.wav").read_bytes()
        assert ours == (tmp_path / "std.wav").read_bytes() and format_tag(tmp_path / "ours.wav") == WAVE_FORMAT_PCM
        assert len(ours) == 44 + pcm.size * 2  # no extra chunks


def test_write_wav_other_subtypes_and_int16_passthrough(tmp_path):
    x = np.array([0.5, -0.25, 1.25], np.float32)
    write_wav(tmp_path / "f.wav", x, 8000, subtype="FLOAT")
    assert format_tag(tmp_path / "f.wav") == WAVE_FORMAT_IEEE_FLOAT
    assert np.array_equal(read_audio(tmp_path / "f.wav")[0], x)
    q = np.array([0, 1, -32768, 32767], np.int16)
    write_wav(tmp_path / "q.wav", q, 8000)
    assert np.array_equal(np.rint(read_audio(tmp_path / "q.wav")[0] * 32768), q)
    with pytest.raises(ValueError, match="shape"):
        write_wav(tmp_path / "bad.wav", np.zeros((1, 2, 3)), 8000)


def test_crops_seek_in_wav_and_flac(tmp_path):
    x = np.arange(-500, 500) / 1024.0
    write_wav(tmp_path / "a.wav", x, 8000)
    sf.write(str(tmp_path / "a.flac"), x, 8000, subtype="PCM_16")
    for name in ("a.wav", "a.flac"):
        y, _ = read_audio(tmp_path / name, start=100, frames=50)
        assert np.array_equal(y, x[100:150].astype(np.float32))


def test_truncated_and_unreadable_files_name_the_file(tmp_path):
    write_wav(tmp_path / "whole.wav", np.zeros(1000), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes((tmp_path / "whole.wav").read_bytes()[:44 + 500])
    for fn in (audio_info, read_audio):
        with pytest.raises(ValueError, match=r"cut\.wav: truncated WAV data \(500 of 2000 bytes\)"):
            fn(cut)
    (tmp_path / "junk.wav").write_bytes(b"RIFF")
    with pytest.raises(ValueError, match=r"junk\.wav: not a readable audio file"):
        audio_info(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="cut.wav"):  # check_dataset reports it as a DataError
        checked_file(cut, DatasetSpec("speakers", str(tmp_path)))


def test_resample_keeps_the_requested_dtype():
    x = np.sin(np.arange(160) / 5.0)
    assert resample(x, 16000, 8000).dtype == np.float32 and resample(x, 16000, 8000).shape == (80,)
    assert resample(x, 16000, 8000, dtype=np.float64).dtype == np.float64
    assert resample(x.astype(np.float32), 8000, 8000).dtype == np.float32
