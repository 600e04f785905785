"""Dense-UNet of Deep CASA's simultaneous grouping (Liu & Wang, IEEE/ACM TASLP 2019, section
III-A, Fig. 3): a U-Net on ``[batch, channels, frames, bins]`` whose levels are dense blocks
(every conv layer sees the concatenation of the block input and all earlier layers' outputs).

    x [b, C_in, N, F] --pad N, F to multiples of 2**D--> --3x3 conv C_in -> C-->
        D x (dense block, keep as skip, 3x3 conv stride 2 (frames and bins))
        dense block (bottom)
        D x (2x2 transposed conv stride 2, concat skip, 1x1 conv 2C -> C, dense block)
        --1x1 conv C -> C_out--> cut back to [b, C_out, N, F]

A dense block of ``l`` layers and growth ``g``: layer ``i`` maps ``C + i g`` channels to ``g``
(3x3 conv, ELU, GroupNorm(1)); a 1x1 conv brings the ``C + l g`` concatenation back to ``C``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DenseBlock(nn.Module):
    """``[b, C, N, F] -> [b, C, N, F]``; see the module docstring."""

    def __init__(self, channels: int, growth: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels + i * growth, growth, 3, padding=1), nn.ELU(), nn.GroupNorm(1, growth))
            for i in range(layers)
        )
        self.merge = nn.Conv2d(channels + layers * growth, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, dim=1)))
        return self.merge(torch.cat(feats, dim=1))


class DenseUNet(nn.Module):
    """Dense-UNet ``[b, C_in, N, F] -> [b, C_out, N, F]`` for any ``N, F >= 1``.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``. channels: ``C`` at every level.
        growth, layers: of each dense block. depth: ``D``, stride-2 downsamplings.
    """

    def __init__(self, in_channels: int, out_channels: int, channels: int, growth: int, layers: int,
                 depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.down_blocks = nn.ModuleList(DenseBlock(channels, growth, layers) for _ in range(depth))
        self.downsample = nn.ModuleList(nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(depth))
        self.bottom = DenseBlock(channels, growth, layers)
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(channels, channels, 2, stride=2) for _ in range(depth))
        self.fuse = nn.ModuleList(nn.Conv2d(2 * channels, channels, 1) for _ in range(depth))
        self.up_blocks = nn.ModuleList(DenseBlock(channels, growth, layers) for _ in range(depth))
        self.head = nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, f = x.shape[-2:]
        m = 2**self.depth
        x = nn.functional.pad(x, (0, -f % m, 0, -n % m))
        x, skips = self.stem(x), []
        for block, down in zip(self.down_blocks, self.downsample):
            x = block(x)
            skips.append(x)
            x = down(x)
        x = self.bottom(x)
        for up, fuse, block, skip in zip(self.upsample, self.fuse, self.up_blocks, reversed(skips)):
            x = block(fuse(torch.cat([up(x), skip], dim=1)))
        return self.head(x)[..., :n, :f]
