"""Separated test utterances for the report's *Listen* section: read, separate, score, encode.

A :class:`Utterance` is one test utterance of the study's corpus (mixture and references); a
:class:`Clip` is it separated by a trial's kept model, its estimates put in the references'
order by the permutation with the best total SI-SNR (the one the test scores use, so
"estimate 1" sits beside "reference 1"), with each estimate's SI-SNRi. Players get WAV files
(16-bit PCM, mono, 44-byte header) as base64 ``data:`` URIs, so the page plays offline.

Estimates are played at their reference's level: SI-SNR ignores an estimate's gain, so a
model may emit any scale; each one is multiplied by its least-squares gain onto its reference
(and all of a clip's signals are scaled down together if that would clip 16-bit PCM).
"""

from __future__ import annotations

import base64
import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sweep.audio import to_pcm16
from sweep.data.constants import CONDITIONS
from sweep.scoring.metrics import best_permutation, pairwise_si_snr, si_snr

__all__ = ["Clip", "Utterance", "data_uri", "embedded_bytes", "read_utterances", "separate", "wav_bytes"]

WAV_HEADER = 44  # bytes of a plain PCM WAV header
_PEAK = 0.99  # full scale kept free for 16-bit PCM


@dataclass(frozen=True)
class Utterance:
    """One test utterance: ``mixture`` [T] and ``references`` [S, T], float32 samples at ``sample_rate`` Hz."""

    condition: str  # closed | open
    index: int  # its position in the condition's folder (0: the first)
    name: str
    mixture: np.ndarray
    references: np.ndarray
    sample_rate: int

    @property
    def n_src(self) -> int:
        return int(self.references.shape[0])

    @property
    def seconds(self) -> float:
        return len(self.mixture) / self.sample_rate

    @property
    def embedded_bytes(self) -> int:
        """Bytes its players add to the page: mixture, S estimates and S references, as base64 WAV."""
        return (1 + 2 * self.n_src) * embedded_bytes(len(self.mixture))


@dataclass(frozen=True)
class Clip:
    """An :class:`Utterance` separated: ``estimates`` [S, T] in reference order, at reference level."""

    utterance: Utterance
    estimates: np.ndarray
    si_snri: tuple[float, ...]  # dB, estimate k against reference k, minus the mixture's SI-SNR

    @property
    def mean_si_snri(self) -> float:
        """The utterance's SI-SNRi (dB): the mean over sources, as the test scores average it."""
        return float(np.mean(self.si_snri))


def embedded_bytes(n_samples: int) -> int:
    """Bytes of the base64 text of a 16-bit mono WAV of ``n_samples`` samples."""
    return 4 * -(-(WAV_HEADER + 2 * n_samples) // 3)


def read_utterances(conditions: dict[str, Path], n: int, n_src: int, sample_rate: int) -> list[Utterance]:
    """The first ``n`` utterances of each condition's folder (as the test set orders them), at
    ``sample_rate`` Hz (resampled if the files differ); closed before open."""
    from sweep.data.wsj0mix import Wsj0MixDataset

    out = []
    for condition in (c for c in CONDITIONS if c in conditions):
        ds = Wsj0MixDataset(conditions[condition], n_src=n_src, segment=None, sample_rate=sample_rate,
                            cache=False, resample=True)
        for i in range(min(n, len(ds))):
            mix, sources, name = ds[i]
            out.append(Utterance(condition, i, str(name), mix.numpy(), sources.numpy(), sample_rate))
    return out


def separate(model, utt: Utterance) -> Clip:
    """Run ``model`` (a :class:`sweep.models.Separator` in eval mode, on the CPU) on one utterance;
    its estimates aligned to the references by the best SI-SNR permutation, with their SI-SNRi."""
    import torch

    with torch.inference_mode():
        est = model(torch.from_numpy(utt.mixture)[None].float())[0].double().numpy()
    refs = utt.references.astype(np.float64)
    perm = best_permutation(pairwise_si_snr(est, refs))  # perm[k]: the estimate of reference k
    est = est[perm]
    rows = np.arange(utt.n_src)
    si_est = pairwise_si_snr(est, refs)[rows, rows]
    si_mix = si_snr(np.broadcast_to(utt.mixture.astype(np.float64), refs.shape), refs)
    return Clip(utt, _at_reference_level(est, refs), tuple(float(x) for x in si_est - si_mix))


def _at_reference_level(est: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Each estimate times its least-squares gain onto its reference; peaks kept under full scale."""
    energy = np.sum(est * est, axis=-1, keepdims=True)
    gain = np.where(energy > 0, np.sum(est * refs, axis=-1, keepdims=True) / np.where(energy > 0, energy, 1.0), 0.0)
    out = est * gain
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return (out * (_PEAK / peak) if peak > _PEAK else out).astype(np.float32)


def wav_bytes(x: np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``x`` (float samples in [-1, 1), clipped beyond) in memory."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(to_pcm16(np.clip(x, -1.0, 1.0)).tobytes())
    return buf.getvalue()


def data_uri(x: np.ndarray, sample_rate: int) -> str:
    """``data:audio/wav;base64,...`` of :func:`wav_bytes`; :func:`embedded_bytes` long after the comma."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(x, sample_rate)).decode("ascii")
