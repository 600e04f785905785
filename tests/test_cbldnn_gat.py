"""CBLDNN-GAT: the two adversarial objectives reach only their own player's parameters and have
the values of their formulas, and the paper preset's size. (Any length, the cpu preset's size
and learning: test_family_contract.py.)"""

from __future__ import annotations

import math

import torch

from sweep import models
from sweep.models.blocks.adversarial import SpectrogramDiscriminator, discriminator_loss, generator_loss


def undecided_discriminator() -> SpectrogramDiscriminator:
    """A discriminator whose logit is 0 for every input (D = 1/2)."""
    torch.manual_seed(0)
    disc = SpectrogramDiscriminator(channels=2)
    torch.nn.init.zeros_(disc.logit.weight)
    torch.nn.init.zeros_(disc.logit.bias)
    return disc


def test_adversarial_losses_by_hand() -> None:
    # D = 1/2 everywhere: discriminator −ln(1/2) − ln(1 − 1/2) = 2 ln 2; generator −ln(1/2) = ln 2.
    disc = undecided_discriminator()
    real, fake = torch.randn(3, 2, 5, 9), torch.randn(3, 2, 5, 9)
    assert math.isclose(discriminator_loss(disc, real, fake).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(generator_loss(disc, fake).item(), math.log(2), rel_tol=1e-6)


def test_each_adversarial_loss_trains_only_its_own_player() -> None:
    torch.manual_seed(0)
    disc = SpectrogramDiscriminator(channels=2)
    fake = torch.randn(3, 2, 5, 9, requires_grad=True)  # stands for the separator's output
    generator_loss(disc, fake).backward()
    assert fake.grad.abs().sum() > 0
    assert all(p.grad is None for p in disc.parameters())
    fake.grad = None
    discriminator_loss(disc, torch.randn(3, 2, 5, 9), fake).backward()
    assert fake.grad is None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters())


def test_paper_preset_size_is_within_5_percent_of_the_published_one() -> None:
    family = models.get_family("cbldnn_gat")
    with torch.device("meta"):
        model = models.build("cbldnn_gat", family.presets["paper"])
    disc = sum(p.numel() for p in model.discriminator.parameters())
    assert model.param_count() == 39_550_515 and disc == 23_505
    # The separator alone (what runs at inference) against the published 39.5M.
    assert abs((model.param_count() - disc) / family.published_params["paper"] - 1) < 0.005
    assert family.published_systems == ("CBLDNN-GAT",)
