"""Wavesplit's two residual stacks of dilated convolutions (Zeghidour & Grangier, "Wavesplit:
End-to-end speech separation by speaker clustering", IEEE/ACM TASLP 29, 2021, section 3),
on frame sequences ``[B, C, K]`` (``K`` = samples at the paper's stride 1).

    speaker stack:    [B, C, K] --L_spk x ResidualConvLayer (dilation 1, 2, 4, ... doubling)-->
                      --1x1 conv C -> S*D--> [B, S, D, K] --L2 norm over D--> speaker vectors
    separation stack: [B, C, K], centroids [B, S, D]
                      --R blocks x X FiLM-conditioned ResidualConvLayers (dilation 1..2**(X-1),
                        reset at every block)--> [B, C, K]

One layer: ``h <- h + norm(PReLU(FiLM(conv_d(h))))``, a *standard* (not depthwise-separable)
dilated conv with ``C`` in and out channels; FiLM (Perez et al. 2018) scales and shifts every
channel with ``gamma_l(c), beta_l(c)``, two linear maps of the concatenated centroids
``c = [c_1, ..., c_S]`` (``S * D`` values), separate for every layer ``l``. The speaker stack's
layers have no FiLM.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from . import norms


class FiLM(nn.Module):
    """Feature-wise linear modulation of ``[B, C, K]`` by a per-utterance vector ``[B, E]``.

    ``out[b, c, k] = gamma(e)[b, c] * x[b, c, k] + beta(e)[b, c]``, ``gamma`` and ``beta``
    linear (with bias). ``gamma``'s bias starts at one and its weight at zero, so an untrained
    layer passes ``x`` through unchanged (why: 40 layers that each multiply by a random gain
    would start far from the identity the residual stack is built around).
    """

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Linear(cond_dim, channels)
        self.beta = nn.Linear(cond_dim, channels)
        nn.init.zeros_(self.gamma.weight)
        nn.init.ones_(self.gamma.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return self.gamma(cond).unsqueeze(-1) * x + self.beta(cond).unsqueeze(-1)


def _zero_gain(norm: nn.Module) -> None:
    """Start a norm's output gain at zero (``weight`` of GroupNorm / LayerNorm / BatchNorm,
    ``gamma`` of cLN), so that a residual layer starts as the identity (Goyal et al. 2017's
    zero-gamma trick; ReZero). Why: a stack of 54 layers that each add unit-variance noise buries
    the input, and a network that writes waveforms directly (no mask) then starts from noise;
    with identity layers it starts as a linear filter of the mixture."""
    gain = getattr(norm, "weight", None)
    if gain is None:
        gain = getattr(norm, "gamma")
    nn.init.zeros_(gain)


class ResidualConvLayer(nn.Module):
    """``h + norm(PReLU(FiLM(conv(h))))``: one layer of either stack, keeps ``[B, C, K]``.

    Args:
        channels: ``C``.
        kernel_size: of the dilated conv.
        dilation: in frames.
        norm: a :mod:`models.blocks.norms` name (``'gLN'``: the paper's layer norm over
            channels and time).
        cond_dim: size of the FiLM conditioning vector, or ``None`` for no FiLM.

    The ``(kernel_size - 1) * dilation`` padding frames are split around the signal (the extra
    one to the right for even kernels), so every layer keeps ``K`` frames.
    """

    def __init__(self, channels: int, kernel_size: int, dilation: int, norm: str,
                 cond_dim: int | None = None) -> None:
        super().__init__()
        total = (kernel_size - 1) * dilation
        self.pad = (total // 2, total - total // 2)
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation)
        self.film = FiLM(cond_dim, channels) if cond_dim is not None else None
        self.act = nn.PReLU()
        self.norm = norms.get(norm, channels)
        _zero_gain(self.norm)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        y = self.conv(F.pad(x, self.pad))
        if self.film is not None:
            y = self.film(y, cond)
        return x + self.norm(self.act(y))


class SpeakerStack(nn.Module):
    """Per-frame speaker vectors, one per output channel: ``[B, C, K] -> [B, S, D, K]``.

    Args:
        channels: ``C``.
        n_layers: residual layers; layer ``i`` has dilation ``2**i``.
        kernel_size, norm: of every layer.
        n_src: ``S`` vectors per frame.
        dim: ``D``, size of a speaker vector.

    Every vector has unit L2 norm (the paper's speaker loss compares distances, and unit
    vectors keep them in ``[0, 2]`` whatever the scale of the stack's output).
    """

    def __init__(self, channels: int, n_layers: int, kernel_size: int, norm: str, n_src: int,
                 dim: int) -> None:
        super().__init__()
        self.n_src, self.dim = n_src, dim
        self.layers = nn.ModuleList(
            ResidualConvLayer(channels, kernel_size, 2**i, norm) for i in range(n_layers)
        )
        self.out = nn.Conv1d(channels, n_src * dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        vectors = self.out(x).view(x.shape[0], self.n_src, self.dim, x.shape[-1])
        return F.normalize(vectors, dim=2, eps=1e-8)


class SeparationStack(nn.Module):
    """FiLM-conditioned residual stack: ``([B, C, K], centroids [B, S, D]) -> [B, C, K]``.

    Args:
        channels: ``C``.
        n_blocks: ``R`` blocks, each restarting at dilation 1.
        layers_per_block: ``X`` layers, dilations ``1, 2, ..., 2**(X-1)``.
        kernel_size, norm: of every layer.
        cond_dim: ``S * D``, the concatenated centroids.
    """

    def __init__(self, channels: int, n_blocks: int, layers_per_block: int, kernel_size: int,
                 norm: str, cond_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            ResidualConvLayer(channels, kernel_size, 2**x, norm, cond_dim)
            for _ in range(n_blocks)
            for x in range(layers_per_block)
        )

    def forward(self, x: Tensor, centroids: Tensor) -> Tensor:
        cond = centroids.flatten(1)  # [B, S * D]: the order of the centroids matters
        for layer in self.layers:
            x = layer(x, cond)
        return x
