"""Mask heads after a separator of :mod:`models.blocks.separators`: per-source streams in, one
activated mask per source and encoder channel out.

The separator has already projected its features to ``S x M`` channels per frame (source-major);
a head turns each source's ``M`` channels into ``N`` mask values (``N``: encoder filters, or
STFT bins) and applies the mask non-linearity (:mod:`models.blocks.activations`, ``softmax``
across sources):

- :class:`LinearMaskHead`, Conv-TasNet's and uPIT's: ``M = N``, nothing left but the activation;
- :class:`GatedMaskHead`, DPRNN's, DPTNet's and SepFormer's: ``M`` is the separator's width,
  then ``tanh(1x1) * sigmoid(1x1)`` and a bias-free 1x1 conv ``M -> N``
  (:class:`~models.blocks.dual_path.DualPathMasker`'s ``out_tanh``, ``out_gate``, ``mask_conv``).
"""

from __future__ import annotations

from torch import Tensor, nn

from . import activations

MASK_HEADS = ("linear", "gated")


class LinearMaskHead(nn.Module):
    """The activation of ``S`` streams of ``N`` channels: ``[B, S*N, K] -> [B, S, N, K]``.

    Args:
        n_src: sources ``S``.
        N: mask values per source and frame.
        activation: an :data:`~models.blocks.activations.ACTIVATIONS` name.
    """

    def __init__(self, n_src: int, N: int, activation: str) -> None:
        super().__init__()
        self.n_src, self.N = n_src, N
        self.act = activations.get(activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x.view(x.shape[0], self.n_src, self.N, x.shape[-1]))


class GatedMaskHead(nn.Module):
    """DPRNN's output gate per source, then a 1x1 conv to the ``N`` mask values.

    Args:
        n_src: sources ``S``.
        M: channels per source (the separator's width).
        N: mask values per source and frame.
        activation: an :data:`~models.blocks.activations.ACTIVATIONS` name.

    Shapes:
        ``[B, S*M, K] -> [B, S, N, K]``.
    """

    def __init__(self, n_src: int, M: int, N: int, activation: str) -> None:
        super().__init__()
        self.n_src, self.M, self.N = n_src, M, N
        self.out_tanh = nn.Sequential(nn.Conv1d(M, M, 1), nn.Tanh())
        self.out_gate = nn.Sequential(nn.Conv1d(M, M, 1), nn.Sigmoid())
        self.mask_conv = nn.Conv1d(M, N, 1, bias=False)
        self.act = activations.get(activation)

    def forward(self, x: Tensor) -> Tensor:
        B, _, K = x.shape
        x = x.reshape(B * self.n_src, self.M, K)
        score = self.mask_conv(self.out_tanh(x) * self.out_gate(x))  # [B * S, N, K]
        return self.act(score.reshape(B, self.n_src, self.N, K))
