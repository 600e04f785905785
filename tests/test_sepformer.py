"""SepFormer and its Transformer block: the presets' sizes, SpeechBrain's chunking and summing
overlap-add on the shared dual-path masker, the positional encoding, and the masks. (Any
length, learning and shape errors: test_family_contract.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from sweep import models
from sweep.models.blocks.dual_path import DualPathMasker, chunk, overlap_add
from sweep.models.blocks.transformer import PreLNTransformerLayer, TransformerEncoder, sinusoidal_positional_encoding

SR = 8000
CPU = models.get_family("sepformer").presets["cpu"]


# -- Size ---------------------------------------------------------------------------------


def test_paper_preset_matches_the_published_size():
    """Ours is SpeechBrain's SepFormer layer for layer: 25,679,361 (the recipe's 25.7M).

    The paper's table says 26M: the same count rounded to two significant figures. Pinned
    exactly so that any change to a layer shows up, and checked against 26M within 3 %.
    Of the total, the 4 Transformers are 25,274,368: per layer 789,760 (attention
    4 x 256^2 + 4 x 256, feed-forward 2 x 256 x 1024 + 1024 + 256, two LayerNorms), 8 layers
    plus a final LayerNorm each.
    """
    fam = models.get_family("sepformer")
    model = models.build("sepformer", fam.presets["paper"], n_src=2, sample_rate=SR)
    assert model.param_count() == 25_679_361
    published = fam.published_params["paper"]
    assert published == 26_000_000
    assert abs(model.param_count() - published) <= 0.03 * published
    layer = PreLNTransformerLayer(256, 8, 1024)
    assert sum(p.numel() for p in layer.parameters()) == 789_760
    transformers = sum(p.numel() for n, p in model.named_parameters() if ".intra." in n or ".inter." in n)
    assert transformers == 4 * (8 * 789_760 + 512)


def test_preset_sizes_are_pinned():
    # Counted before SepFormer moved onto the shared dual-path masker; the move kept them.
    counts = {p: models.build("sepformer", models.get_family("sepformer").presets[p]).param_count()
              for p in ("paper", "cpu")}
    assert counts == {"paper": 25_679_361, "cpu": 27_841}


def test_num_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="num_heads"):
        models.build("sepformer", {**CPU, "d_model": 30, "num_heads": 4})


# -- Chunking and positional encoding -----------------------------------------------------


@pytest.mark.parametrize("length", [1, 7, 50, 101])
@pytest.mark.parametrize("chunk_size", [2, 10, 11])
def test_speechbrain_chunks_cover_every_frame_twice_and_summing_overlap_add_inverts_them(length: int,
                                                                                       chunk_size: int):
    torch.manual_seed(0)
    x = torch.randn(2, 3, length)
    hop = chunk_size // 2
    chunks = chunk(x, chunk_size, front=hop)
    assert chunks.shape == (2, 3, chunk_size, math.ceil(length / hop) + 1)
    # Chunk j holds frames hop * (j - 1) ... of x: hop zero frames in front, zeros past the end.
    padded = torch.nn.functional.pad(x, (hop, chunk_size * chunks.shape[-1]))
    for j in range(chunks.shape[-1]):
        assert torch.equal(chunks[..., j], padded[..., hop * j : hop * j + chunk_size])
    coverage = overlap_add(torch.ones_like(chunks), length, front=hop, reduce="sum")
    if chunk_size % 2 == 0:
        assert torch.equal(coverage, torch.full_like(x, 2.0))  # 50 % overlap: exactly twice
    else:
        assert coverage.min() == 2 and coverage.max() <= 3  # odd chunks overlap by one more frame
    assert torch.allclose(overlap_add(chunks, length, front=hop, reduce="sum"), x * coverage)


def test_positional_encoding_is_the_sinusoidal_one():
    pe = sinusoidal_positional_encoding(100, 8)
    assert pe.shape == (100, 8)
    assert torch.allclose(pe[0], torch.tensor([0.0, 1.0] * 4))
    assert torch.allclose(pe[:, 0], torch.sin(torch.arange(100.0)))
    assert torch.allclose(pe[:, 7], torch.cos(torch.arange(100.0) / 10000 ** (6 / 8)))
    assert sinusoidal_positional_encoding(5, 7).shape == (5, 7)  # odd widths work too


def test_transformer_sees_positions_only_through_the_encoding():
    """Self-attention is permutation-equivariant; the added encoding is what breaks that."""
    torch.manual_seed(0)
    x = torch.randn(2, 12, 16)
    perm = torch.randperm(12)
    for use_pe in (False, True):
        torch.manual_seed(1)
        enc = TransformerEncoder(2, 16, 4, 32, positional_encoding=use_pe).eval()
        with torch.no_grad():
            equivariant = torch.allclose(enc(x)[:, perm], enc(x[:, perm]), atol=1e-5)
        assert equivariant == (not use_pe)


# -- The separator ------------------------------------------------------------------------


def speechbrain_dual_path_model(masker: DualPathMasker, feats: torch.Tensor) -> torch.Tensor:
    """SpeechBrain's ``Dual_Path_Model.forward`` written out on the masker's own layers, with
    its own segmentation and a plain loop for the (summing) overlap-add: ``[B, N, K'] -> [B, S, N, K']``."""
    b, n, frames = feats.shape
    c, d, s = masker.K, masker.D, masker.n_src
    hop = c // 2
    x = masker.bottleneck(masker.in_norm(feats))  # [B, D, K']
    x = torch.nn.functional.pad(x, (hop, c - hop + (-frames % hop)))
    x = x.unfold(-1, c, hop).transpose(2, 3)  # [B, D, C, Nc]
    for block in masker.blocks:
        nc = x.shape[-1]
        intra = block.intra(x.permute(0, 3, 2, 1).reshape(b * nc, c, d)).reshape(b, nc, c, d).permute(0, 3, 2, 1)
        x = block.intra_norm(intra) + x
        inter = block.inter(x.permute(0, 2, 3, 1).reshape(b * c, nc, d)).reshape(b, c, nc, d).permute(0, 3, 1, 2)
        x = block.inter_norm(inter) + x
    x = masker.first_out(x).reshape(b * s, d, c, x.shape[-1])
    summed = torch.zeros(b * s, d, (x.shape[-1] - 1) * hop + c)
    for j in range(x.shape[-1]):
        summed[..., j * hop : j * hop + c] += x[..., j]
    x = summed[..., hop : hop + frames]
    x = masker.mask_conv(masker.out_tanh(x) * masker.out_gate(x))
    return torch.relu(x).reshape(b, s, n, frames)


@pytest.mark.parametrize("chunk_size", [10, 11])
def test_masker_computes_speechbrains_dual_path_model(chunk_size: int):
    torch.manual_seed(0)
    params = {**CPU, "chunk_size": chunk_size, "num_blocks": 2, "num_inter_layers": 2}
    model = models.build("sepformer", params, n_src=3, sample_rate=SR).eval()
    feats = model.encoder(model.pad(torch.randn(2, 777)))
    with torch.no_grad():
        torch.testing.assert_close(model.masker(feats), speechbrain_dual_path_model(model.masker, feats),
                                   rtol=1e-5, atol=1e-6)


def test_masks_are_non_negative_per_source_and_basis():
    torch.manual_seed(0)
    model = models.build("sepformer", CPU, n_src=3, sample_rate=SR)
    feats = model.encoder(model.pad(torch.randn(2, 1000)))
    masks = model.masker(feats)
    assert masks.shape == (2, 3, CPU["N_filters"], feats.shape[-1])
    assert (masks >= 0).all()

