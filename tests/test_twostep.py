"""Two-Step CTN: the paper preset's size, the ideal latent targets, the two-step objective
written out by hand (and which parameters each step trains), and the input-level scaling.
(Any length, the cpu preset, learning: test_family_contract.py.)"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sweep import models
from sweep.models.twostep import TwoStepCTN, ideal_latent_targets

SR = 8000
TINY = {"N": 8, "L": 4, "B": 8, "H": 8, "P": 3, "X": 2, "R": 1}


def build(params: dict, n_src: int = 2) -> TwoStepCTN:
    torch.manual_seed(0)
    return TwoStepCTN(n_src=n_src, sample_rate=SR, **params)  # TINY is below the search ranges


def test_paper_preset_is_within_5_percent_of_published() -> None:
    # N = 256, L = 21, B = 256, H = 512, 8 x 4 residual blocks; shared decoder (docstring).
    family = models.get_family("twostep")
    with torch.device("meta"):
        count = models.build("twostep", family.presets["paper"]).param_count()
    assert count == 8_622_661  # pinned: an architecture change must be a deliberate one
    assert abs(count - family.published_params["paper"]) / 8_600_000 < 0.05
    assert family.published_systems == ("Two-Step CTN",) and family.inference == "direct"


def test_ideal_latent_targets_split_the_mixture_encoding_by_a_softmax_of_the_sources() -> None:
    enc_sources = torch.tensor([math.log(3.0), 0.0]).view(1, 2, 1, 1)  # softmax: 3/4, 1/4
    enc_mixture = torch.tensor(8.0).view(1, 1, 1)
    targets = ideal_latent_targets(enc_sources, enc_mixture)
    torch.testing.assert_close(targets.flatten(), torch.tensor([6.0, 2.0]))


def _si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Textbook SI-SNR (dB) of 1-D signals."""
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * torch.log10(target.pow(2).sum() / (est - target).pow(2).sum())


def test_training_loss_is_front_end_loss_plus_best_latent_si_sdr() -> None:
    model = build(TINY).eval()
    torch.manual_seed(1)
    sources = torch.randn(1, 2, 200)
    mixture = sources.sum(1)
    with torch.no_grad():
        w, targets = model.latents(mixture, sources)
        recon = model.decode(targets)[..., :200]
        step1 = -(_si_snr(recon[0, 0], sources[0, 0]) + _si_snr(recon[0, 1], sources[0, 1])) / 2
        est = (model.masker(w) * w.unsqueeze(1)).flatten(2)[0]  # [S, N*K]
        tgt = targets.flatten(2)[0]
        step2 = -max((_si_snr(est[p[0]], tgt[0]) + _si_snr(est[p[1]], tgt[1])) / 2
                     for p in itertools.permutations(range(2)))
        loss = model.training_loss(mixture, sources)
    torch.testing.assert_close(loss, step1 + step2, rtol=1e-4, atol=1e-4)


def test_each_step_trains_only_its_own_parameters() -> None:
    model = build(TINY)
    sources = torch.randn(2, 2, 300)
    mixture = sources.sum(1)
    w, targets = model.latents(mixture, sources)
    step2 = -(model.masker(w.detach()) * w.detach().unsqueeze(1) - targets.detach()).pow(2).mean()
    step2.backward()  # a stand-in for the latent loss: it must not reach the front end
    assert model.encoder[0].weight.grad is None
    model.zero_grad(set_to_none=True)
    model.training_loss(mixture, sources).backward()
    assert model.encoder[0].weight.grad.abs().sum() > 0  # step 1 trains the front end
    assert model.masker.bottleneck.weight.grad.abs().sum() > 0  # step 2 the separator


@pytest.mark.parametrize("gain", [0.01, 3.0])
def test_output_follows_the_input_level(gain: float) -> None:
    # The mixture is scaled to a fixed RMS inside, so the estimates scale with the input.
    model = build(TINY).eval()
    x = torch.randn(2, 333)
    with torch.no_grad():
        torch.testing.assert_close(model(gain * x), gain * model(x), rtol=1e-3, atol=1e-4 * gain)
