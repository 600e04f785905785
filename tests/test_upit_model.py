"""The uPIT separator end to end: the STFT, oracle masks and the oracle assignment, building
from the registry, and the presets' sizes. (Any length, shape errors, learning and the declared
capabilities: test_family_contract.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.blocks.pit import apply_permutation, frame_pit_loss, utterance_pit_loss
from sweep.models.blocks.stft import ISTFTDecoder, STFTEncoder, stft_params
from sweep.models.upit import UPIT

SR = 8000
TINY = {"num_layers": 1, "hidden_size": 32}


def tiny(**overrides) -> UPIT:
    """A 1 x 32 BLSTM, 2 speakers, seeded so every test sees the same weights."""
    torch.manual_seed(0)
    return models.build("upit", {**TINY, **overrides}, n_src=2, sample_rate=SR)


def disjoint_sources(length: int = 8000) -> torch.Tensor:
    """``[1, 2, T]``: speaker 1 talks first, speaker 2 after a gap longer than a window.

    No STFT frame (256 samples) sees both, so a real 0/1 mask with the mixture phase is a
    *perfect* mask: this is the one case where mask-and-mixture-phase can be exact.
    """
    g = torch.Generator().manual_seed(0)
    src = torch.zeros(1, 2, length)
    src[0, 0, : length * 3 // 8] = torch.randn(length * 3 // 8, generator=g)
    src[0, 1, length // 2 :] = torch.randn(length - length // 2, generator=g)
    return 0.1 * src


def ideal_masks(model: UPIT, sources: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``|X_s| / |Y|`` (0 where the mixture bin is silent) and the mixture spectrum."""
    mix_spec = model.encoder(sources.sum(dim=1))
    mix_mag = mix_spec.abs().unsqueeze(1)
    masks = torch.where(mix_mag > 0, model.encoder(sources).abs() / mix_mag.clamp_min(1e-12), 0.0)
    return masks, mix_spec


# -- Shapes and the STFT ------------------------------------------------------------------


def test_stft_sizes_follow_the_paper_at_8khz() -> None:
    assert stft_params(8000) == (256, 64, 256)  # 32 ms window, 8 ms hop
    enc = STFTEncoder(*stft_params(8000))
    spec = enc(torch.randn(3, 1001))
    assert spec.shape == (3, 129, 1 + 1001 // 64) and spec.is_complex()
    assert stft_params(16000) == (512, 128, 512)


@pytest.mark.parametrize("length", [1001, 7777])
def test_istft_of_stft_reconstructs(length: int) -> None:
    enc, dec = STFTEncoder(256, 64, 256), ISTFTDecoder(256, 64, 256)
    torch.manual_seed(0)
    x = torch.randn(2, 3, length)  # [B, S, T]: leading dims pass through
    y = dec(enc(x), length)
    assert y.shape == x.shape
    assert (y - x).abs().max().item() < 1e-5


def test_the_model_and_its_oracle_masks_share_one_stft() -> None:
    enc, dec, label = models.get_family("upit").oracle_stft(SR)
    model = tiny()
    for ours, theirs in ((model.encoder, enc), (model.decoder, dec)):
        assert (ours.n_fft, ours.hop, ours.win) == (theirs.n_fft, theirs.hop, theirs.win) == (256, 64, 256)
        assert torch.equal(ours.window, theirs.window)
    assert label == "256/64/256 sqrt-hann"


def test_stft_encoder_has_no_parameters() -> None:
    assert sum(p.numel() for p in STFTEncoder(256, 64, 256).parameters()) == 0
    assert "window" not in STFTEncoder(256, 64, 256).state_dict()


# -- Oracle masks and oracle assignment -----------------------------------------------------


def test_perfect_mask_reconstructs_the_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny()
    sources = disjoint_sources()
    masks, mix_spec = ideal_masks(model, sources)
    monkeypatch.setattr(model, "masks", lambda mixture: (masks, mix_spec))
    out = model(sources.sum(dim=1))
    assert (out - sources).abs().max().item() < 1e-5


def test_oracle_assignment_undoes_frame_swaps(monkeypatch: pytest.MonkeyPatch) -> None:
    # Perfect masks whose streams swap halfway through (what frame-level PIT models do):
    # the default assignment mixes the speakers, the frame-wise optimal one does not.
    model = tiny(mask_type="PSM")
    sources = disjoint_sources()
    masks, mix_spec = ideal_masks(model, sources)
    half = masks.shape[-1] // 2
    swapped = torch.cat([masks[..., :half], masks[:, [1, 0], :, half:]], dim=-1)
    monkeypatch.setattr(model, "masks", lambda mixture: (swapped, mix_spec))
    mixture = sources.sum(dim=1)
    assert (model(mixture) - sources).abs().max().item() > 0.1
    assert (model.oracle_assignment(mixture, sources) - sources).abs().max().item() < 1e-5


@pytest.mark.parametrize("n_src", [2, 3])
def test_oracle_assignment_never_scores_worse_than_default(n_src: int) -> None:
    torch.manual_seed(n_src)
    model = models.build("upit", TINY, n_src=n_src, sample_rate=SR)
    sources = torch.randn(3, n_src, 2000)
    mixture = sources.sum(dim=1)
    with torch.no_grad():
        masks, mix_spec, est, target = model.estimates_and_targets(mixture, sources)
    default_streams = ((est - target) ** 2).mean().item()  # streams as emitted
    default_upit, _ = utterance_pit_loss(est, target)  # best single permutation
    frame_loss, perm = frame_pit_loss(est, target)
    optimal = ((apply_permutation(est, perm) - target) ** 2).mean().item()
    assert optimal == pytest.approx(frame_loss.item(), rel=1e-5)
    assert optimal <= default_upit.item() + 1e-7 <= default_streams + 2e-7
    assert (perm != perm[:, :1]).any(), "an untrained model should switch permutation somewhere"
    # oracle_assignment is exactly these reordered masks, resynthesised.
    expected = model.synthesize(apply_permutation(masks, perm), mix_spec, mixture.shape[-1])
    torch.testing.assert_close(model.oracle_assignment(mixture, sources), expected)


def test_frame_pit_training_loss_is_below_upit_for_the_same_weights() -> None:
    torch.manual_seed(0)
    sources = torch.randn(2, 2, 1500)
    losses = {pit: tiny(pit=pit).training_loss(sources.sum(dim=1), sources).item() for pit in ("utterance", "frame")}
    assert losses["frame"] < losses["utterance"]


def test_output_scales_with_the_mixture_gain() -> None:
    # Per-utterance feature normalisation makes the masks gain invariant.
    model = tiny().eval()
    torch.manual_seed(1)
    mixture = torch.randn(2, 3000)
    with torch.no_grad():
        torch.testing.assert_close(model(10.0 * mixture), 10.0 * model(mixture), rtol=1e-4, atol=1e-5)


# -- Registry ------------------------------------------------------------------------------


def test_build_fills_defaults_and_canonicalises() -> None:
    model = models.build("upit", {"num_layers": 1.0, "hidden_size": 16 * 2, "mask_type": "AM"})
    assert model.separator.rnn.num_layers == 1 and model.mask_type == "AM"
    assert model.mask_head.activation == "relu" and model.pit == "utterance"  # defaults
    assert models.get_family("upit").resolve({"dropout": 0})["dropout"] == 0.0


def test_build_rejects_unknown_keys_naming_them() -> None:
    with pytest.raises(ValueError, match=r"'hidden'.*known:.*'hidden_size'"):
        models.build("upit", {"hidden": 64})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_layers": 0}, r"'num_layers'.*outside the allowed range \[1, 4\]"),
        ({"num_layers": 2.5}, r"'num_layers'.*integer"),
        ({"hidden_size": 4096}, r"'hidden_size'.*outside"),
        ({"dropout": 0.9}, r"'dropout'.*outside"),
        ({"dropout": "high"}, r"'dropout'.*expected float"),
        ({"mask_type": "IBM"}, r"'mask_type'.*'IBM' is not one of \['AM', 'PSM', 'NPSM'\]"),
        ({"activation": "gelu"}, r"'activation'.*'gelu'"),
        ({"rnn_type": True}, r"'rnn_type'"),
        ({"num_layers": True}, r"'num_layers'.*expected int"),
    ],
)
def test_build_rejects_bad_values(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        models.build("upit", params)


def test_hparam_rejects_a_bad_default() -> None:
    with pytest.raises(ValueError, match="outside"):
        models.HParam("x", "int", 0, low=1, high=4)


def test_preset_param_counts_are_pinned() -> None:
    # BLSTM layer with input I, hidden H (PyTorch: two bias vectors per gate set):
    #   2 directions x 4H (I + H + 2).  Mask head: Linear(2H -> S F) = 2H S F + S F.
    # paper, H = 896, F = 129, S = 2:
    #   layer 1: 2 * 3584 * (129 + 896 + 2) = 7_361_536
    #   layers 2, 3: 2 * 3584 * (1792 + 896 + 2) = 19_281_920 each
    #   head: 1792 * 258 + 258 = 462_594                       total 46_387_970 (46.4 M).
    # The Conv-TasNet paper lists uPIT-BLSTM-ST at 92.7 M and uPIT-LSTM at 46.3 M.
    family = models.get_family("upit")
    counts = {name: models.build("upit", family.presets[name]).param_count() for name in ("paper", "cpu")}
    assert counts == {"paper": 46_387_970, "cpu": 726_786}
