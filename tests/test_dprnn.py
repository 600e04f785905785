"""DPRNN-TasNet and its building blocks: dual-path chunking / overlap-add, the dual-path
block, the learned filterbank, preset sizes against the paper, the causal variant's look-ahead
and the mask activations. (Any length, the cpu preset's size, learning and the causality check
itself: test_family_contract.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from sweep import models
from sweep.models.blocks.dual_path import DualPathBlock, chunk, chunk_grid, overlap_add
from sweep.models.blocks.learned_filterbank import LearnedDecoder, LearnedEncoder, learned_filterbank
from sweep.models.dprnn import DPRNN

SR = 8000
TINY = {"N": 16, "L": 4, "B": 16, "H": 16, "K": 8, "R": 2}


# -- Dual-path chunking ----------------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 7, 100, 1001])
@pytest.mark.parametrize("K", [2, 8, 250])
def test_overlap_add_of_chunks_reconstructs_exactly(T: int, K: int) -> None:
    x = torch.randn(2, 3, T)
    chunks = chunk(x, K)
    assert chunks.shape[:3] == (2, 3, K)
    assert torch.equal(overlap_add(chunks, T), x)  # averaging two equal copies is exact


@pytest.mark.parametrize("K", [3, 9])
def test_overlap_add_reconstructs_with_an_odd_chunk_size(K: int) -> None:
    x = torch.randn(1, 2, 123)
    torch.testing.assert_close(overlap_add(chunk(x, K), 123), x, rtol=1e-6, atol=1e-7)


def test_chunk_layout_half_overlap_every_frame_in_two_chunks() -> None:
    T, K, P = 37, 8, 4
    x = torch.arange(1, T + 1, dtype=torch.float32).view(1, 1, T)  # frame t holds t + 1; pads hold 0
    chunks = chunk(x, K)[0, 0]  # [K, S]
    front, padded, S = chunk_grid(T, K, P)
    assert (front, S) == (P, math.ceil(T / P) + 1) and padded == (S - 1) * P + K
    for j in range(S):  # chunk j holds frames j*P - P ... j*P - P + K - 1
        expected = [t + 1 if 0 <= t < T else 0 for t in range(j * P - P, j * P - P + K)]
        assert chunks[:, j].tolist() == expected
    counts = torch.bincount(chunks[chunks > 0].long(), minlength=T + 1)[1:]
    assert (counts == 2).all()
    assert chunks[:P, 0].eq(0).all()  # the first chunk starts with P zero frames


def test_overlap_add_rejects_a_chunk_count_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="chunks do not match"):
        overlap_add(torch.zeros(1, 2, 8, 3), 100)
    with pytest.raises(ValueError, match="reduce must be one of"):
        overlap_add(chunk(torch.zeros(1, 2, 100), 8), 100, reduce="max")


def test_summing_overlap_add_counts_every_frame_twice() -> None:
    # The reference code's (and SepFormer's) summing overlap-add: exactly twice the input.
    x = torch.randn(2, 3, 101)
    assert torch.equal(overlap_add(chunk(x, 8), 101, reduce="sum"), 2 * x)


def test_dual_path_block_runs_intra_along_chunks_and_inter_across_them() -> None:
    class CumSum(torch.nn.Module):  # [batch, seq, C]: makes the sequence axis visible
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.cumsum(1)

    x = torch.randn(2, 3, 5, 4)  # [B, C, K, S]
    assert torch.equal(DualPathBlock(CumSum(), torch.nn.Identity())(x), x.cumsum(2))
    assert torch.equal(DualPathBlock(torch.nn.Identity(), CumSum())(x), x.cumsum(3))
    zero = lambda _: torch.zeros(())  # noqa: E731  a norm that kills the path leaves the residual
    assert torch.equal(DualPathBlock(CumSum(), CumSum(), zero, zero)(x), x)


# -- Learned filterbank ------------------------------------------------------------------------


def test_learned_filterbank_shapes_relu_and_no_bias() -> None:
    enc, dec = learned_filterbank(N=32, L=16)
    assert isinstance(enc, LearnedEncoder) and isinstance(dec, LearnedDecoder) and enc.stride == 8
    w = enc(torch.randn(3, 1, 8 * 99 + 16))
    assert w.shape == (3, 32, 100) and (w >= 0).all()
    assert dec(w).shape == (3, 1, 8 * 99 + 16)
    assert [n for n, _ in enc.named_parameters()] == ["conv.weight"]
    assert [n for n, _ in dec.named_parameters()] == ["deconv.weight"]
    with pytest.raises(ValueError, match="L must be >= 2"):
        LearnedEncoder(8, 1)


# -- The family --------------------------------------------------------------------------------


def test_paper_preset_matches_the_published_size() -> None:
    family = models.get_family("dprnn")
    published = family.published_params["paper"]
    model = models.build("dprnn", family.presets["paper"])
    assert published == 2_600_000
    assert abs(model.param_count() - published) / published < 0.03
    assert model.param_count() == 2_608_001  # pinned: any structural change shows up here
    blocks = model.masker.blocks
    assert len(blocks) == 6 and blocks[0].intra.rnn.hidden_size == 128 and model.masker.K == 250


def test_causal_preset_uses_lstm_across_chunks_and_cln() -> None:
    model = models.build("dprnn", models.get_family("dprnn").presets["paper_causal"])
    block = model.masker.blocks[0]
    assert block.intra.rnn.bidirectional and not block.inter.rnn.bidirectional
    assert type(block.inter_norm.norm).__name__ == "CumulativeLayerNorm"
    assert type(model.masker.in_norm).__name__ == "CumulativeLayerNorm"
    assert model.param_count() < models.build("dprnn", models.get_family("dprnn").presets["paper"]).param_count()


def test_causal_variant_looks_ahead_exactly_one_chunk_plus_one_window() -> None:
    torch.manual_seed(0)
    model = models.build("dprnn", {**TINY, "causal": True}, n_src=2, sample_rate=SR).eval()
    assert model.lookahead() == 8 * 2 + 4  # K frames of hop L/2, plus one window
    assert models.build("dprnn", TINY).lookahead() is None
    x = torch.randn(1, 800)
    y = x.clone()
    y[:, 500:] += torch.randn(1, 300)
    with torch.no_grad():
        diff = (model(x) - model(y)).abs().amax(dim=(0, 1))
    assert diff[: 500 - model.lookahead()].max().item() == 0.0  # outputs well before the change


@pytest.mark.parametrize("mask_act", ["sigmoid", "softmax"])
def test_other_mask_activations(mask_act: str) -> None:
    model = models.build("dprnn", {**TINY, "activation": mask_act}, n_src=3)
    masks = model.masker(model.encoder(model.pad(torch.randn(2, 300))))
    assert masks.shape[:2] == (2, 3) and (masks >= 0).all() and (masks <= 1).all()
    if mask_act == "softmax":
        torch.testing.assert_close(masks.sum(1), torch.ones_like(masks[:, 0]))


def test_registry_and_validation() -> None:
    assert isinstance(models.build("dprnn", TINY), DPRNN)
    with pytest.raises(ValueError, match=r"'K'.*outside"):
        models.build("dprnn", {"K": 1})
    with pytest.raises(ValueError, match=r"'activation'.*'gelu' is not one of"):
        models.build("dprnn", {"activation": "gelu"})
