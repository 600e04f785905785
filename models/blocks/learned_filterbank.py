"""Learned analysis / synthesis filterbank of DPRNN and DPTNet: a strided 1-D convolution in
(ReLU optional), its transposed convolution out. Conv-TasNet, SepFormer and SuDoRM-RF build
their pairs inline, each as its reference code does (Conv-TasNet: torchaudio's ``L/2`` edge
padding and no ReLU; SuDoRM-RF: biases), and TasNet's gated encoder works on whole segments.

Shapes follow :class:`models.masking.EncoderMaskerDecoder`, which pads the waveform so that
``(T' - L) % stride == 0``; then the decoder returns exactly ``T'`` samples:

- :class:`LearnedEncoder`: ``[B, 1, T'] -> [B, N, K]``, ``K = (T' - L) // stride + 1`` frames
- :class:`LearnedDecoder`: ``[B, N, K] -> [B, 1, T']``, ``T' = (K - 1) * stride + L``

Both are bias-free, as in the papers' reference code: a bias in the encoder would be a
constant offset on every basis coefficient (the mask multiplies it, so it leaks into the
estimate), and one in the decoder would add a DC offset to every output.
"""

from __future__ import annotations

from torch import Tensor, nn


def default_stride(L: int) -> int:
    """Hop of the filterbank: 50 % overlap, as in all TasNet-style papers."""
    if L < 2:
        raise ValueError(f"window L must be >= 2 samples for a 50 % overlap hop, got {L}")
    return L // 2


class LearnedEncoder(nn.Module):
    """``N`` learned basis filters of ``L`` samples, hop ``stride``, optionally followed by ReLU.

    Args:
        N: number of filters (basis functions).
        L: filter length in samples.
        stride: hop in samples (default ``L // 2``).
        relu: keep the coefficients non-negative (DPRNN, DPTNet), so a mask in
            ``[0, 1]`` can only remove energy from each basis coefficient.
        padding: zeros added at both ends before framing (Conv-TasNet / torchaudio: ``L // 2``,
            so the first and last samples are covered by two frames like all others; the
            matching :class:`LearnedDecoder` crops them again). Default 0.

    Shapes:
        ``[B, 1, T'] -> [B, N, K]``, ``K = (T' + 2 * padding - L) // stride + 1``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None, relu: bool = True, padding: int = 0) -> None:
        super().__init__()
        self.N, self.L = N, L
        self.stride = default_stride(L) if stride is None else stride
        self.conv = nn.Conv1d(1, N, L, stride=self.stride, padding=padding, bias=False)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        w = self.conv(x)
        return w.relu() if self.relu else w


class LearnedDecoder(nn.Module):
    """Synthesis: each frame's ``N`` coefficients weight ``N`` learned ``L``-sample basis
    signals, overlap-added with hop ``stride`` (``ConvTranspose1d`` is exactly that).

    Shapes:
        ``[B, N, K] -> [B, 1, (K - 1) * stride + L - 2 * padding]`` (``padding`` samples
        cropped at both ends: the encoder's).
    """

    def __init__(self, N: int, L: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        self.N, self.L = N, L
        self.stride = default_stride(L) if stride is None else stride
        self.deconv = nn.ConvTranspose1d(N, 1, L, stride=self.stride, padding=padding, bias=False)

    def forward(self, w: Tensor) -> Tensor:
        return self.deconv(w)


def learned_filterbank(N: int, L: int, stride: int | None = None, relu: bool = True) -> tuple[LearnedEncoder, LearnedDecoder]:
    """A matching encoder / decoder pair (same ``N``, ``L`` and hop)."""
    return LearnedEncoder(N, L, stride, relu), LearnedDecoder(N, L, stride)
