"""Temporal convolutional network (TCN) of Conv-TasNet (Luo & Mesgarani, IEEE/ACM TASLP 2019,
section II-C, Fig. 1(b)-(c)), on encoder features ``[B, N, K]``.

    [B, N, K] --norm--> --1x1 conv N->B (bottleneck)--> [B, B, K]
        --X*R ConvBlocks, dilation 2**x (x = 0..X-1, repeated R times)-->
            each block: 1x1 conv B->H, PReLU, norm, depthwise conv (P, dilation d), PReLU, norm,
                        then 1x1 conv H->B (residual, added to the block input)
                        and  1x1 conv H->Sc (skip, summed over all blocks)
        --sum of skips--> [B, Sc, K]

The sum of the skip outputs is the TCN's output; the mask head (PReLU, 1x1 conv to S*N,
activation) lives with the family (:mod:`models.convtasnet`). Module layout and padding follow
``torchaudio.models.conv_tasnet`` so that its weights load one-to-one (see
:func:`models.convtasnet_torchaudio.load_torchaudio_weights`); in particular the *last* block
has no residual conv, because its residual output would never be used.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from . import norms


class DepthwiseConv(nn.Module):
    """Dilated depthwise conv over ``[B, H, K]`` that keeps ``K`` frames, for any kernel size.

    Non-causal: ``(P-1)*d`` zeros split around the signal (``d`` each side for ``P = 3``, as in
    torchaudio; the extra one goes to the right for even ``P``). Causal: all ``(P-1)*d`` on the
    left, so frame ``k`` only sees frames ``<= k``. Padding is explicit rather than
    ``Conv1d(padding=...)`` because PyTorch's symmetric padding cannot keep ``K`` for even ``P``.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, causal: bool) -> None:
        super().__init__()
        total = (kernel_size - 1) * dilation
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation, groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.pad))


class ConvBlock(nn.Module):
    """One 1-D conv block of the TCN.

    Args:
        B: bottleneck (residual path) channels.
        H: channels inside the block.
        P: depthwise kernel size.
        Sc: skip-connection channels.
        dilation: of the depthwise conv.
        norm: ``'gLN'``, ``'cLN'`` or ``'BN'`` (see :mod:`models.blocks.norms`).
        causal: left-only padding of the depthwise conv.
        residual: build the residual 1x1 conv (False for the last block of the stack).

    Shapes:
        ``[batch, B, K] -> (residual [batch, B, K] or None, skip [batch, Sc, K])``.
    """

    def __init__(self, B: int, H: int, P: int, Sc: int, dilation: int, norm: str, causal: bool,
                 residual: bool = True) -> None:
        super().__init__()
        # Attribute names mirror torchaudio's ConvBlock so its state dict maps key for key.
        self.conv_layers = nn.Sequential(
            nn.Conv1d(B, H, 1),
            nn.PReLU(),
            norms.get(norm, H),
            DepthwiseConv(H, P, dilation, causal),
            nn.PReLU(),
            norms.get(norm, H),
        )
        self.res_out = nn.Conv1d(H, B, 1) if residual else None
        self.skip_out = nn.Conv1d(H, Sc, 1)

    def forward(self, x: Tensor) -> tuple[Tensor | None, Tensor]:
        feature = self.conv_layers(x)
        residual = None if self.res_out is None else self.res_out(feature)
        return residual, self.skip_out(feature)


class TCN(nn.Module):
    """Conv-TasNet's separation stack, up to (not including) the mask head.

    Args:
        N: input channels (encoder filters).
        B: bottleneck channels.
        H: channels in the conv blocks.
        P: depthwise kernel size.
        X: conv blocks per repeat (dilations ``1, 2, ..., 2**(X-1)``).
        R: repeats.
        Sc: skip-connection (output) channels.
        norm: ``'gLN'`` (non-causal), ``'cLN'`` (causal) or ``'BN'``; also used on the input.
        causal: left-only padding in every depthwise conv. The stack is causal end to end only
            with a causal norm too (``'cLN'``, or ``'BN'`` in eval mode); see :attr:`is_causal`.

    Shapes:
        ``[batch, N, K] -> [batch, Sc, K]`` (sum of the blocks' skip outputs).
    """

    def __init__(self, N: int, B: int, H: int, P: int, X: int, R: int, Sc: int, norm: str = "gLN",
                 causal: bool = False) -> None:
        super().__init__()
        if min(N, B, H, P, X, R, Sc) < 1:
            raise ValueError(f"TCN sizes must be positive, got N={N} B={B} H={H} P={P} X={X} R={R} Sc={Sc}")
        self.causal, self.norm = causal, norm
        self.input_norm = norms.get(norm, N)
        self.input_conv = nn.Conv1d(N, B, 1)
        self.conv_layers = nn.ModuleList(
            ConvBlock(B, H, P, Sc, 2**x, norm, causal, residual=not (r == R - 1 and x == X - 1))
            for r in range(R)
            for x in range(X)
        )
        # Frames of context one output frame sees: 1 + (P-1) * sum of all dilations.
        self.receptive_field = 1 + (P - 1) * R * (2**X - 1)

    @property
    def is_causal(self) -> bool:
        """Whether output frame ``k`` depends on input frames ``<= k`` only (in eval mode)."""
        return self.causal and self.norm in (*norms.CAUSAL_NORMS, "BN")

    def forward(self, x: Tensor) -> Tensor:
        feats = self.input_conv(self.input_norm(x))
        skip_sum: Tensor | float = 0.0
        for block in self.conv_layers:
            residual, skip = block(feats)
            if residual is not None:
                feats = feats + residual
            skip_sum = skip_sum + skip
        return skip_sum  # type: ignore[return-value]
