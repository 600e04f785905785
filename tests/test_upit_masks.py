"""Mask targets, mask activations and (u)PIT losses on tensors small enough to check by hand,
and the one permutation convention the losses share with sweep.scoring.metrics.

Shapes follow the code: spectra ``[B, S, F, N]``; most cases are one utterance, two
speakers, one frequency bin and two frames (``[1, 2, 1, 2]``).
"""

from __future__ import annotations

import math

import pytest
import torch

from sweep.models.blocks import activations
from sweep.models.blocks.losses import pit_neg_si_snr, si_snr_matrix
from sweep.models.blocks.masks import SpectralMaskHead, mask_target
from sweep.models.blocks.pit import apply_permutation, frame_pit_loss, pairwise_mse, utterance_pit_loss
from sweep.scoring.metrics import best_permutation, pairwise_si_snr


def spec(*frames: complex) -> torch.Tensor:
    """One bin over frames -> ``[F=1, N]`` complex."""
    return torch.tensor([list(frames)], dtype=torch.complex64)


def mag(*rows: list[float]) -> torch.Tensor:
    """Speaker rows of one bin over frames -> ``[B=1, S, F=1, N]`` real."""
    return torch.tensor([[[r] for r in rows]], dtype=torch.float32)


# One bin, two frames.
#   frame 0: X1 = 3 (phase 0), X2 = 4j (phase pi/2)  -> Y = 3 + 4j, |Y| = 5, cos(th_Y) = 3/5, sin = 4/5
#   frame 1: X1 = 1 (phase 0), X2 = -2 (phase pi)    -> Y = -1,     |Y| = 1, th_Y = pi
X1, X2 = spec(3, 1), spec(4j, -2)
SOURCES = torch.stack([X1, X2])[None]  # [1, 2, 1, 2]
MIXTURE = SOURCES.sum(dim=1)  # [1, 1, 2]

AM_TARGET = [[3.0, 1.0], [4.0, 2.0]]  # |X_s|
# |X_s| cos(th_Y - th_s): frame 0: 3 * 3/5 = 1.8 and 4 * cos(th_Y - pi/2) = 4 * 4/5 = 3.2
#                         frame 1: 1 * cos(pi - 0) = -1 and 2 * cos(pi - pi) = 2
PSM_TARGET = [[1.8, -1.0], [3.2, 2.0]]
NPSM_TARGET = [[1.8, 0.0], [3.2, 2.0]]


@pytest.mark.parametrize(
    ("mask_type", "expected"), [("AM", AM_TARGET), ("PSM", PSM_TARGET), ("NPSM", NPSM_TARGET)]
)
def test_mask_targets_by_hand(mask_type: str, expected: list[list[float]]) -> None:
    target = mask_target(mask_type, MIXTURE, SOURCES)
    assert target.shape == (1, 2, 1, 2)
    assert not target.is_complex()
    torch.testing.assert_close(target, mag(*expected), atol=1e-5, rtol=0)


def test_psm_targets_sum_to_mixture_magnitude() -> None:
    # Projections of the sources on the mixture phase add up to |Y| in every bin.
    torch.manual_seed(0)
    src = torch.randn(2, 3, 5, 7, dtype=torch.complex64)
    target = mask_target("PSM", src.sum(dim=1), src)
    torch.testing.assert_close(target.sum(dim=1), src.sum(dim=1).abs(), atol=1e-5, rtol=1e-5)


def test_unknown_mask_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="IBM"):
        mask_target("IBM", MIXTURE, SOURCES)


# Masks 0.5 for both speakers in both frames: M_s |Y| = [2.5, 0.5] for both outputs, so
# every permutation gives the same error and the loss is sum / (F N S) = sum / 4.
#   AM:   (2.5-3)^2 + (0.5-1)^2 + (2.5-4)^2 + (0.5-2)^2      = 0.25 + 0.25 + 2.25 + 2.25 = 5.00 -> 1.25
#   PSM:  (2.5-1.8)^2 + (0.5+1)^2 + (2.5-3.2)^2 + (0.5-2)^2  = 0.49 + 2.25 + 0.49 + 2.25 = 5.48 -> 1.37
#   NPSM: (2.5-1.8)^2 + (0.5-0)^2 + (2.5-3.2)^2 + (0.5-2)^2  = 0.49 + 0.25 + 0.49 + 2.25 = 3.48 -> 0.87
@pytest.mark.parametrize(("mask_type", "expected"), [("AM", 1.25), ("PSM", 1.37), ("NPSM", 0.87)])
def test_the_three_losses_by_hand(mask_type: str, expected: float) -> None:
    masks = torch.full((1, 2, 1, 2), 0.5)
    est = masks * MIXTURE.abs().unsqueeze(1)
    target = mask_target(mask_type, MIXTURE, SOURCES)
    for loss_fn in (utterance_pit_loss, frame_pit_loss):
        loss, _ = loss_fn(est, target)
        assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_pairwise_mse_by_hand() -> None:
    est = mag([1.0, 0.0], [0.0, 1.0])
    target = mag([1.0, 2.0], [0.0, 0.0])
    pw = pairwise_mse(est, target)
    assert pw.shape == (1, 2, 2, 2)  # [B, S_est, S_ref, N]
    # pw[i, j, n] = (est_i[n] - target_j[n])^2 with F = 1.
    expected = torch.tensor([[[[0.0, 4.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 1.0]]]])
    torch.testing.assert_close(pw, expected)


def test_pairwise_mse_averages_over_frequency() -> None:
    est = torch.zeros(1, 1, 4, 1)
    target = torch.tensor([1.0, 1.0, 3.0, 1.0]).view(1, 1, 4, 1)
    assert pairwise_mse(est, target).item() == pytest.approx((1 + 1 + 9 + 1) / 4)


def test_upit_picks_the_swapped_permutation() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 2, 3, 5)
    est = target[:, [1, 0]]  # outputs emitted in the other speaker order
    loss, perm = utterance_pit_loss(est, target)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert perm.tolist() == [[1, 0], [1, 0]]
    torch.testing.assert_close(apply_permutation(est, perm), target)


def test_upit_three_speakers_finds_the_cyclic_permutation() -> None:
    torch.manual_seed(1)
    target = torch.rand(1, 3, 4, 6)
    est = target[:, [2, 0, 1]]  # output 0 is reference 2, output 1 is reference 0, ...
    loss, perm = utterance_pit_loss(est, target)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert perm.tolist() == [[1, 2, 0]]  # reference 0 is in output 1, reference 1 in output 2, ...
    torch.testing.assert_close(apply_permutation(est, perm), target)


def test_frame_pit_switches_permutation_per_frame_upit_cannot() -> None:
    # One bin, two frames. Outputs e1 = [1, 0], e2 = [0, 1]; references t1 = [1, 2], t2 = [0, 0].
    #   frame 0: identity (1-1)^2 + (0-0)^2 = 0   swapped (1-0)^2 + (0-1)^2 = 2
    #   frame 1: identity (0-2)^2 + (1-0)^2 = 5   swapped (0-0)^2 + (1-2)^2 = 1
    # frame PIT: 0 + 1 = 1 -> 1 / (F N S = 4) = 0.25, identity in frame 0, swap in frame 1.
    # uPIT: identity 0 + 5 = 5, swapped 2 + 1 = 3 -> swapped, 3 / 4 = 0.75.
    est = mag([1.0, 0.0], [0.0, 1.0])
    target = mag([1.0, 2.0], [0.0, 0.0])

    frame_loss, frame_perm = frame_pit_loss(est, target)
    assert frame_loss.item() == pytest.approx(0.25)
    assert frame_perm.tolist() == [[[0, 1], [1, 0]]]  # [B, N, S]

    utt_loss, utt_perm = utterance_pit_loss(est, target)
    assert utt_loss.item() == pytest.approx(0.75)
    assert utt_perm.tolist() == [[1, 0]]  # [B, S]

    # Reordered frame by frame into reference order (frame 1: output 2 -> reference 1), the
    # outputs score the frame-PIT loss with no permutation: (1-1)^2 + (1-2)^2 + 0 + 0 = 1.
    reordered = apply_permutation(est, frame_perm)
    torch.testing.assert_close(reordered, mag([1.0, 1.0], [0.0, 0.0]))
    assert ((reordered - target) ** 2).mean().item() == pytest.approx(0.25)


def test_losses_are_batch_means_and_differentiable() -> None:
    est = torch.cat([mag([1.0, 0.0], [0.0, 1.0]), mag([1.0, 2.0], [0.0, 0.0])]).requires_grad_()
    target = torch.cat([mag([1.0, 2.0], [0.0, 0.0])] * 2)
    loss, _ = utterance_pit_loss(est, target)
    assert loss.item() == pytest.approx((0.75 + 0.0) / 2)
    loss.backward()
    assert est.grad is not None and est.grad[1].abs().sum() == 0  # perfect utterance: no gradient


def test_activation_values_by_hand() -> None:
    logits = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)  # two speakers, one bin
    torch.testing.assert_close(activations.get("softmax")(logits).flatten(), torch.tensor([0.25, 0.75]))
    torch.testing.assert_close(activations.get("sigmoid")(logits).flatten(), torch.tensor([0.5, 0.75]))
    neg = torch.tensor([-2.0, 1.5]).view(1, 2, 1, 1)
    torch.testing.assert_close(activations.get("relu")(neg).flatten(), torch.tensor([0.0, 1.5]))
    torch.testing.assert_close(activations.get("tanh")(neg).flatten(), torch.tanh(torch.tensor([-2.0, 1.5])))
    assert activations.ACTIVATIONS == ("softmax", "sigmoid", "relu", "tanh")
    with pytest.raises(ValueError, match=r"'gelu'; known: \['softmax', 'sigmoid', 'relu', 'tanh'\]"):
        activations.get("gelu")


@pytest.mark.parametrize("n_src", [2, 3])
def test_mask_head_ranges(n_src: int) -> None:
    torch.manual_seed(0)
    h = 2.0 * torch.randn(2, 11, 16)  # [B, N, features]; large enough to exercise every range
    masks = {act: SpectralMaskHead(16, 9, n_src, act)(h) for act in activations.ACTIVATIONS}
    for m in masks.values():
        assert m.shape == (2, n_src, 9, 11)  # [B, S, F, N]
    torch.testing.assert_close(masks["softmax"].sum(dim=1), torch.ones(2, 9, 11))
    assert (masks["softmax"] > 0).all()
    assert ((masks["sigmoid"] > 0) & (masks["sigmoid"] < 1)).all()
    assert (masks["relu"] >= 0).all() and (masks["relu"] == 0).any() and (masks["relu"] > 1).any()
    assert ((masks["tanh"] > -1) & (masks["tanh"] < 1)).all() and (masks["tanh"] < 0).any()


# -- One permutation convention ---------------------------------------------------------------


@pytest.mark.parametrize("n_src", [2, 3])
def test_losses_and_metrics_share_one_permutation_convention(n_src: int) -> None:
    # perm[k] = the output assigned to reference k, everywhere: outputs[perm] are in reference order.
    torch.manual_seed(n_src)
    true = torch.randperm(n_src)  # output true[k] holds reference k
    target = torch.rand(1, n_src, 5, 7)
    est = torch.empty_like(target)
    est[:, true] = target + 0.01 * torch.rand_like(target)
    _, perm = utterance_pit_loss(est, target)
    errors = pairwise_mse(est, target).mean(-1)[0]  # [S_out, S_ref]
    assert perm[0].tolist() == true.tolist() == best_permutation(errors.T.numpy(), maximize=False).tolist()

    ref = torch.randn(1, n_src, 800)
    out = torch.empty_like(ref)
    out[:, true] = ref + 0.1 * torch.randn_like(ref)
    _, perm = pit_neg_si_snr(out, ref)
    assert perm[0].tolist() == true.tolist() == best_permutation(pairwise_si_snr(out[0], ref[0])).tolist()
    torch.testing.assert_close(apply_permutation(out, perm), out[:, true])
    # The torch score matrix is laid out like the metric's: references in rows.
    np_matrix = torch.from_numpy(pairwise_si_snr(out[0], ref[0])).float()
    torch.testing.assert_close(si_snr_matrix(out, ref)[0], np_matrix, rtol=1e-4, atol=1e-4)
