"""CBLDNN-GAT: CNN + BLSTM + DNN mask estimator, uPIT, with generative adversarial training.

Li, Zhu, Xu, Gao, Xu, "CBLDNN-based speaker-independent speech separation via generative
adversarial training", ICASSP 2018.

Encoder - Separator - Mask head - Decoder:

    mixture [B, T] --STFT--> Y [B, F, N] --log|Y|, normalise--> [B, 1, N, F]
        --2 x (3x3 conv, ReLU), max-pool over F--> [B, C, N, F/2] --flatten, Linear--> [B, N, 256]
        --BLSTM stack--> [B, N, 2H] --DNN: 2 x (Linear, ReLU)--> [B, N, 1024]
        --Linear + activation--> M [B, S, F, N] --M ⊙ Y (mixture phase)--> --iSTFT--> [B, S, T]
    training only: D([features of Y, of M_s ⊙ |Y| or of the target]) -> real / estimated

**Objective.** uPIT squared error of ``M_s ⊙ |Y|`` against the PSM target, divided by the
mixture's mean power (dimensionless, so ``adv_weight`` means the same at any input gain), plus
``adv_weight`` x the non-saturating generator loss, plus the discriminator's own loss. The
discriminator sees one source at a time with the mixture beside it, the clipped training target
as "real" and the estimate as "fake". How one optimiser trains both players without either loss
reaching the other's parameters: :mod:`models.blocks.adversarial` (the estimate is detached in
the discriminator's loss; the discriminator's weights are detached in the generator's loss).

**What is inferred.** The paper reports the C-BLSTM-DNN layout, uPIT, adversarial training
throughout and 39.5M parameters (the Conv-TasNet paper's table). Its layer sizes were not
available to us; we take CLDNN's (Sainath et al., ICASSP 2015) layout: two 3x3 convolutions of 32
channels with frequency pooling by 2, a linear 256-dimensional bottleneck, three BLSTM layers and
two 1024-unit ReLU layers. The BLSTM width is then the one free size: 784 units per direction
gives 39.53M for the separator (+0.07 %; 768 gives 38.07M, 800 gives 41.01M), so it is inferred
from the published total, not quoted. The discriminator adds 0.02M (23,505 parameters), which
``param_count`` includes (it is trained), 39.55M in all. Not reproduced: the paper's warm-up phase, which
pre-trains the network on log-mel filterbank and pitch targets in a multi-task manner (a pitch
tracker is outside this harness); training starts from scratch with the adversarial term on.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Separator
from .blocks.activations import ACTIVATIONS
from .blocks.adversarial import SpectrogramDiscriminator, discriminator_loss, generator_loss
from .blocks.masks import MASK_TYPES, SpectralMaskHead, mask_target
from .blocks.pit import utterance_pit_loss
from .blocks.rnn import RNNStack
from .blocks.stft import normalised_log_magnitude
from .registry import Family, HParam, MaskKnobs, register
from .upit import upit_stft


class ConvFrontEnd(nn.Module):
    """Two 3x3 conv + ReLU layers, max-pool by 2 over frequency, linear bottleneck.

    Shapes:
        ``[B, N, F] -> [B, N, bottleneck]``.
    """

    def __init__(self, n_bins: int, channels: int, bottleneck: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d((1, 2), ceil_mode=True),
        )
        self.linear = nn.Linear(channels * ((n_bins + 1) // 2), bottleneck)

    def forward(self, x: Tensor) -> Tensor:
        y = self.convs(x.unsqueeze(1))  # [B, C, N, ceil(F / 2)]
        return self.linear(y.transpose(1, 2).flatten(2))


class CBLDNNGAT(Separator):
    """CNN + BLSTM + DNN spectral-mask separator with an adversarial loss.

    Args:
        n_src: speakers ``S``.
        sample_rate: Hz; STFT 32 ms / 8 ms sqrt-Hann (``F = 129`` at 8 kHz).
        conv_channels: channels of both convolutions.
        bottleneck: width of the linear layer after the convolutions.
        num_layers, hidden_size: BLSTM layers and units per direction.
        dnn_layers, dnn_size: ReLU layers after the BLSTMs and their width.
        disc_channels: first-layer channels of the discriminator.
        adv_weight: weight of the generator's adversarial loss (0 turns the GAN off, but the
            discriminator is still trained and counted).
        dropout: between and after BLSTM layers.
        mask_type, activation: training target and mask activation.
        eps: floor inside logs and divisions, linear STFT magnitude units.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, conv_channels: int = 32, bottleneck: int = 256,
                 num_layers: int = 3, hidden_size: int = 784, dnn_layers: int = 2, dnn_size: int = 1024,
                 disc_channels: int = 16, adv_weight: float = 0.01, dropout: float = 0.0, mask_type: str = "PSM",
                 activation: str = "relu", eps: float = 1e-8) -> None:
        super().__init__(n_src, sample_rate)
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask_type must be one of {list(MASK_TYPES)}, got {mask_type!r}")
        self.mask_type, self.adv_weight, self.eps = mask_type, adv_weight, eps
        self.encoder, self.decoder, _ = upit_stft(sample_rate)
        n_bins = self.encoder.n_bins
        self.front_end = ConvFrontEnd(n_bins, conv_channels, bottleneck)
        self.separator = RNNStack(bottleneck, hidden_size, num_layers, True, dropout)
        widths = [self.separator.output_size] + [dnn_size] * dnn_layers
        self.dnn = nn.Sequential(*[m for a, b in zip(widths[:-1], widths[1:]) for m in (nn.Linear(a, b), nn.ReLU())])
        self.mask_head = SpectralMaskHead(widths[-1], n_bins, n_src, activation)
        self.discriminator = SpectrogramDiscriminator(disc_channels)

    def masks(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, T]`` -> (masks ``[B, S, F, N]``, mixture spectrum ``[B, F, N]`` complex)."""
        self._check_mixture(mixture)
        mix_spec = self.encoder(mixture)
        features = normalised_log_magnitude(mix_spec, self.eps).transpose(1, 2)  # [B, N, F]
        return self.mask_head(self.dnn(self.separator(self.front_end(features)))), mix_spec

    def forward(self, mixture: Tensor) -> Tensor:
        """``[B, T] -> [B, S, T]``: masks on the mixture spectrum, mixture phase, iSTFT."""
        masks, mix_spec = self.masks(mixture)
        return self.decoder(masks * mix_spec.unsqueeze(1), mixture.shape[-1])

    def discriminator_input(self, mix_spec: Tensor, src_mag: Tensor) -> Tensor:
        """``[B, F, N]`` complex, ``[B, S, F, N]`` magnitudes -> ``[B S, 2, N, F]``: the mixture's
        normalised log magnitude beside each source's, normalised with the mixture's statistics
        (so a source keeps its level relative to the mixture)."""
        log_mix = torch.log(mix_spec.abs() + self.eps)
        mean = log_mix.mean(dim=(1, 2), keepdim=True).unsqueeze(1)
        std = log_mix.std(dim=(1, 2), keepdim=True).unsqueeze(1) + 1e-5
        src_feat = (torch.log(src_mag.clamp_min(0) + self.eps) - mean) / std  # [B, S, F, N]
        mix_feat = normalised_log_magnitude(mix_spec, self.eps).unsqueeze(1).expand_as(src_feat)
        return torch.stack([mix_feat, src_feat], dim=2).flatten(0, 1).transpose(2, 3)

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """Power-normalised uPIT error + ``adv_weight`` · generator loss + discriminator loss."""
        self._check_sources(mixture, sources)
        masks, mix_spec = self.masks(mixture)
        est = masks * mix_spec.abs().unsqueeze(1)
        target = mask_target(self.mask_type, mix_spec, self.encoder(sources))
        scale = (mix_spec.abs().pow(2).mean(dim=(1, 2)) + self.eps).sqrt().view(-1, 1, 1, 1)
        sep_loss, _ = utterance_pit_loss(est / scale, target / scale)
        real = self.discriminator_input(mix_spec, target)
        fake = self.discriminator_input(mix_spec, est)
        gan = self.adv_weight * generator_loss(self.discriminator, fake)
        return sep_loss + gan + discriminator_loss(self.discriminator, real, fake)

    def extra_repr(self) -> str:
        return f"n_src={self.n_src}, sample_rate={self.sample_rate}, adv_weight={self.adv_weight}"


FAMILY = register(
    Family(
        name="cbldnn_gat",
        description=(
            "CBLDNN-GAT (Li et al., ICASSP 2018): convolutional layers, a BLSTM stack and "
            "feed-forward layers estimate one spectral mask per speaker under uPIT, with a "
            "generative adversarial loss from a discriminator that tells estimated source "
            "spectrograms from real ones."
        ),
        blocks={
            "encoder": "STFT, 32 ms sqrt-Hann window, 8 ms hop; log-magnitude, per-utterance normalised",
            "separator": "2 conv layers + frequency pooling + linear bottleneck, BLSTM stack, 2 ReLU layers",
            "mask head": "per-frame linear layer to S x F masks + activation (GAN discriminator in training)",
            "decoder": "masks x mixture spectrum (mixture phase), inverse STFT",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("conv_channels", "int", 32, low=4, high=128, log=True, doc="channels of the conv layers"),
                HParam("bottleneck", "int", 256, low=16, high=1024, log=True, doc="linear layer after the convs"),
                HParam("num_layers", "int", 3, low=1, high=4, doc="BLSTM layers"),
                HParam("hidden_size", "int", 784, low=16, high=1024, log=True, doc="BLSTM units per direction"),
                HParam("dnn_layers", "int", 2, low=1, high=4, doc="ReLU layers after the BLSTMs"),
                HParam("dnn_size", "int", 1024, low=16, high=2048, log=True, doc="width of the ReLU layers"),
                HParam("disc_channels", "int", 16, low=2, high=64, log=True, doc="discriminator first-layer channels"),
                HParam("adv_weight", "float", 0.01, low=0.0, high=1.0, doc="weight of the adversarial loss"),
                HParam("dropout", "float", 0.0, low=0.0, high=0.5, doc="dropout between and after BLSTM layers"),
                HParam("mask_type", "choice", "PSM", choices=MASK_TYPES, doc="training target: AM, PSM or NPSM"),
                HParam("activation", "choice", "relu", choices=ACTIVATIONS, doc="mask activation"),
            )
        },
        presets={
            "paper": {"conv_channels": 32, "bottleneck": 256, "num_layers": 3, "hidden_size": 784,
                      "dnn_layers": 2, "dnn_size": 1024, "disc_channels": 16},
            "cpu": {"conv_channels": 8, "bottleneck": 64, "num_layers": 2, "hidden_size": 96,
                    "dnn_layers": 2, "dnn_size": 192, "disc_channels": 8},
        },
        builder=CBLDNNGAT,
        mask_knobs=MaskKnobs(mask="mask_type", activation="activation"),
        oracle_stft=upit_stft,
        published_params={"paper": 39_500_000},
        published_systems=("CBLDNN-GAT",),
    )
)
