"""Generative adversarial training inside one scalar loss: a spectrogram discriminator and the
generator / discriminator objectives, each reaching only its own side's parameters.

The harness minimises one ``training_loss`` with one optimiser. A GAN needs two opposite
objectives; summing them is only right if each gradient reaches the right parameters:

* the **discriminator loss** scores real spectra as real and *detached* estimates as fake, so
  it trains the discriminator and never the separator;
* the **generator loss** scores the (attached) estimates with a *parameter-detached* copy of the
  discriminator (:func:`torch.func.functional_call` with detached weights), so it trains the
  separator to fool the discriminator and never trains the discriminator to be fooled.

Their sum, minimised by one optimiser, is simultaneous gradient descent on the two players'
objectives, what alternating updates do with one step each, on the same batch. Both use the
non-saturating binary cross-entropy of Goodfellow et al. (2014).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call


class SpectrogramDiscriminator(nn.Module):
    """Real / estimated source spectrogram classifier, conditioned on the mixture.

    Strided 2-D convolutions with leaky ReLUs over (frames, bins), a global average and a
    linear logit, in the spirit of DCGAN / SEGAN discriminators (our choice: the CBLDNN-GAT
    paper's discriminator layout is not known to us).

    Args:
        channels: channels of the first convolution (doubled by the second and third).

    Shapes:
        ``[B', 2, N, F]`` (mixture features, source features) -> ``[B']`` logits.
    """

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        widths = (2, channels, 2 * channels, 4 * channels)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        self.logit = nn.Linear(widths[-1], 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logit(self.convs(x).mean(dim=(2, 3))).squeeze(-1)


def _bce(logits: Tensor, real: bool) -> Tensor:
    target = torch.full_like(logits, 1.0 if real else 0.0)
    return nn.functional.binary_cross_entropy_with_logits(logits, target)


def discriminator_loss(disc: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """``BCE(D(real), 1) + BCE(D(fake.detach()), 0)``: trains ``disc`` only (nats, 0-dim)."""
    return _bce(disc(real), True) + _bce(disc(fake.detach()), False)


def generator_loss(disc: nn.Module, fake: Tensor) -> Tensor:
    """``BCE(D(fake), 1)`` through a parameter-detached ``disc``: trains what made ``fake`` only."""
    frozen = {name: p.detach() for name, p in disc.named_parameters()}
    return _bce(functional_call(disc, frozen, (fake,)), True)
