"""STFT encoder / inverse-STFT decoder (the fixed Encoder and Decoder of the mask families).

Window: periodic **square-root Hann**, used for both analysis and synthesis. At the 75 %
overlap used here (hop = win / 4) the squared window sums to the constant ``win / (2 hop)
= 2``, so overlap-add of masked frames is a plain weighted-overlap-add with a constant gain:
the inverse is exact for unmodified spectra and introduces no frame-dependent weighting
when masks modify them. (``torch.istft`` divides by the summed squared window, which makes
any NOLA window invertible; sqrt-Hann is the one for which that division is a constant.)

Frames are centred (``center=True``) with **zero** padding of ``n_fft // 2`` on each side:
unlike reflect padding this works for any length ``T >= 1`` and keeps the edges from
carrying mirrored copies of the signal into the masks. A waveform of ``T`` samples gives
``N = 1 + T // hop`` frames and ``F = n_fft // 2 + 1`` bins.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

WINDOW_MS = 32.0
HOP_MS = 8.0


def stft_params(sample_rate: int, window_ms: float = WINDOW_MS, hop_ms: float = HOP_MS) -> tuple[int, int, int]:
    """``(n_fft, hop, win)`` in samples for a window/hop given in ms.

    ``n_fft`` is the window length itself (no zero padding of frames), so at 8 kHz the
    uPIT paper's 32 ms / 8 ms gives ``(256, 64, 256)`` and ``F = 129`` bins.
    """
    win = int(round(sample_rate * window_ms / 1000.0))
    hop = int(round(sample_rate * hop_ms / 1000.0))
    if win < 2 or hop < 1:
        raise ValueError(f"sample_rate {sample_rate} Hz is too low for a {window_ms} ms / {hop_ms} ms STFT")
    return win, hop, win


def normalised_log_magnitude(spec: Tensor, eps: float = 1e-8) -> Tensor:
    """uPIT's network input: ``log(|Y| + eps)`` normalised to zero mean and unit variance per
    utterance (one scalar mean and std over all T-F bins of each mixture).

    Args:
        spec: ``[B, F, N]`` complex STFT.
        eps: floor inside the log, in linear STFT magnitude units.

    Returns:
        ``[B, F, N]`` real. A digitally silent mixture (std 0) stays finite: the std is floored.
    """
    log_mag = torch.log(spec.abs() + eps)
    mean = log_mag.mean(dim=(1, 2), keepdim=True)
    std = log_mag.std(dim=(1, 2), keepdim=True)
    return (log_mag - mean) / (std + 1e-5)


def sqrt_hann_window(win: int) -> Tensor:
    """Periodic square-root Hann window of ``win`` samples (float32)."""
    return torch.hann_window(win, periodic=True).sqrt()


class _STFTBase(nn.Module):
    def __init__(self, n_fft: int, hop: int, win: int) -> None:
        super().__init__()
        if not 1 <= hop <= win <= n_fft:
            raise ValueError(f"need 1 <= hop <= win <= n_fft, got hop={hop}, win={win}, n_fft={n_fft}")
        self.n_fft, self.hop, self.win = int(n_fft), int(hop), int(win)
        # Not persistent: derived from the constructor arguments, so it stays out of
        # checkpoints and out of param_count().
        self.register_buffer("window", sqrt_hann_window(win), persistent=False)

    @property
    def n_bins(self) -> int:
        """Number of frequency bins ``F = n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def n_frames(self, length: int) -> int:
        """Number of frames ``N`` for a waveform of ``length`` samples."""
        return 1 + length // self.hop

    def extra_repr(self) -> str:
        return f"n_fft={self.n_fft}, hop={self.hop}, win={self.win}, window=sqrt_hann"


class STFTEncoder(_STFTBase):
    """Waveform ``[..., T]`` -> complex spectrum ``[..., F, N]`` (e.g. ``[B, T] -> [B, F, N]``)."""

    def forward(self, x: Tensor) -> Tensor:
        lead, length = x.shape[:-1], x.shape[-1]
        spec = torch.stft(
            x.reshape(-1, length),
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.win,
            window=self.window.to(x.dtype),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec.reshape(*lead, *spec.shape[-2:])


class ISTFTDecoder(_STFTBase):
    """Complex spectrum ``[..., F, N]`` + ``length`` -> waveform ``[..., length]``.

    Typically ``[B, S, F, N] -> [B, S, T]``. The inverse of :class:`STFTEncoder` with the
    same ``(n_fft, hop, win)``.
    """

    def forward(self, spec: Tensor, length: int) -> Tensor:
        lead = spec.shape[:-2]
        wav = torch.istft(
            spec.reshape(-1, *spec.shape[-2:]),
            n_fft=self.n_fft,
            hop_length=self.hop,
            win_length=self.win,
            window=self.window.to(spec.real.dtype),
            center=True,
            length=int(length),
        )
        return wav.reshape(*lead, wav.shape[-1])
