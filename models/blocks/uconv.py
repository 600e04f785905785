"""The U-ConvBlock of SuDoRM-RF: successive downsampling and resampling of multi-resolution features.

Tzinis, Wang, Smaragdis, "Sudo rm -rf: efficient networks for universal audio source
separation", MLSP 2020, section 2.2, read alongside the authors' ``UBlock`` (repository
``etzinis/sudo_rm_rf``, ``sudo_rm_rf/dnn/models/sudormrf.py``; asteroid's ``UBlock`` is the
same). On ``[B, C, K]`` with ``C`` = out_channels (128), ``C_U`` = in_channels (512), ``Q`` =
downsampling_depth (4):

    x [B, C, K] --1x1 conv C->C_U, gLN, PReLU--> y_0 --depthwise conv k5, gLN--> d_0 [B, C_U, K]
      d_q = depthwise conv k5 stride 2 + gLN of d_{q-1}       q = 1..Q   [B, C_U, K / 2^q]
      u_Q = d_Q;  u_q = d_q + upsample_x2(u_{q+1})             q = Q-1..0 (nearest neighbour)
      out = gLN + PReLU( x + gLN(1x1 conv C_U->C of PReLU(gLN(u_0))) )

Each level sees the previous one at half the frame rate, so ``Q`` levels of kernel-5 filters
reach a receptive field of about ``5 * 2^Q`` frames at the cost of ``(Q + 1) * 5 * C_U``
weights: the paper's cheap alternative to dilated convolutions.

``K`` must be a multiple of ``2^Q`` for the nearest-neighbour upsampling to restore each
level's length exactly; :class:`models.sudormrf.SuDoRMRF` pads its input so it is. Other
lengths still work (the upsampled level is interpolated to the finer level's length).

The authors' code names the depth ``upsampling_depth`` and counts the stride-1 level too:
their ``upsampling_depth`` = our ``Q + 1``; their training scripts default to 5, i.e. ``Q = 4``.
"""

from __future__ import annotations

from torch import Tensor, nn

from . import norms


def _gln(channels: int) -> nn.Module:
    """Global layer norm over channels and time of ``[B, C, K]`` (the authors' GroupNorm(1, C))."""
    return norms.get("gLN", channels)


def _depthwise(channels: int, stride: int) -> nn.Sequential:
    """Depthwise conv, kernel 5 ("same" padding), optional stride 2, then gLN."""
    return nn.Sequential(
        nn.Conv1d(channels, channels, 5, stride=stride, padding=2, groups=channels), _gln(channels)
    )


class UConvBlock(nn.Module):
    """One U-ConvBlock, ``[B, C, K] -> [B, C, K]`` with a residual connection.

    Args:
        out_channels: ``C``, channels between blocks (paper: 128).
        in_channels: ``C_U``, channels inside the block (paper: 512).
        downsampling_depth: ``Q``, successive stride-2 downsamplings (paper: 4).

    The names ``out_channels`` / ``in_channels`` are the authors' (the block's output and
    its internal expanded width), kept so configurations transfer.
    """

    def __init__(self, out_channels: int = 128, in_channels: int = 512, downsampling_depth: int = 4) -> None:
        super().__init__()
        if downsampling_depth < 0:
            raise ValueError(f"downsampling_depth must be >= 0, got {downsampling_depth}")
        self.proj_1x1 = nn.Sequential(nn.Conv1d(out_channels, in_channels, 1), _gln(in_channels),
                                      nn.PReLU(in_channels))
        self.spp_dw = nn.ModuleList(
            [_depthwise(in_channels, 1)] + [_depthwise(in_channels, 2) for _ in range(downsampling_depth)]
        )
        self.final_norm = nn.Sequential(_gln(in_channels), nn.PReLU(in_channels))
        self.conv_1x1_exp = nn.Sequential(nn.Conv1d(in_channels, out_channels, 1), _gln(out_channels))
        self.module_act = nn.Sequential(_gln(out_channels), nn.PReLU(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        levels = [self.spp_dw[0](self.proj_1x1(x))]
        for down in self.spp_dw[1:]:
            levels.append(down(levels[-1]))
        # Coarsest to finest: each level adds the (already merged) coarser one, upsampled.
        merged = levels.pop()
        while levels:
            finer = levels.pop()
            merged = finer + nn.functional.interpolate(merged, size=finer.shape[-1], mode="nearest")
        return self.module_act(x + self.conv_1x1_exp(self.final_norm(merged)))
