"""SepFormer and its Transformer block: the paper preset's size, chunking / overlap-add, the
positional encoding, any-length I/O for 2 and 3 speakers, and that a CPU-sized model learns."""

from __future__ import annotations

import math

import pytest
import torch

import models
import models.sepformer  # noqa: F401  (registers the family even before models/__init__ imports it)
from models.blocks.transformer import PreLNTransformerLayer, TransformerEncoder, sinusoidal_positional_encoding
from models.sepformer import SepFormer, chunk, overlap_add
from tests.signals import train_on_one_mixture, voice_and_noise

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


def test_cpu_preset_is_small():
    n = models.build("sepformer", CPU, n_src=2, sample_rate=SR).param_count()
    assert 10_000 <= n <= 100_000


def test_num_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="num_heads"):
        models.build("sepformer", {**CPU, "d_model": 30, "num_heads": 4})


# -- Chunking and positional encoding -----------------------------------------------------


@pytest.mark.parametrize("length", [1, 7, 50, 101])
@pytest.mark.parametrize("chunk_size", [2, 10, 11])
def test_chunk_covers_every_frame_twice_and_overlap_add_inverts_it(length: int, chunk_size: int):
    torch.manual_seed(0)
    x = torch.randn(2, 3, length)
    chunks = chunk(x, chunk_size)
    hop = chunk_size // 2
    assert chunks.shape == (2, 3, chunk_size, math.ceil(length / hop) + 1)
    # Chunk j holds frames hop * (j - 1) ... of x: hop zero frames in front, zeros past the end.
    padded = torch.nn.functional.pad(x, (hop, chunk_size * chunks.shape[-1]))
    for j in range(chunks.shape[-1]):
        assert torch.equal(chunks[..., j], padded[..., hop * j : hop * j + chunk_size])
    coverage = overlap_add(torch.ones_like(chunks), length)
    if chunk_size % 2 == 0:
        assert torch.equal(coverage, torch.full_like(x, 2.0))  # 50 % overlap: exactly twice
    else:
        assert coverage.min() == 2 and coverage.max() <= 3  # odd chunks overlap by one more frame
    assert torch.allclose(overlap_add(chunks, length), x * coverage)


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


@pytest.mark.parametrize("length", [1, 17, 4001])
@pytest.mark.parametrize("n_src", [2, 3])
def test_forward_returns_b_s_t_for_any_length(length: int, n_src: int):
    torch.manual_seed(0)
    model = models.build("sepformer", CPU, n_src=n_src, sample_rate=SR)
    out = model(torch.randn(2, length))
    assert out.shape == (2, n_src, length)
    assert torch.isfinite(out).all()


def test_masks_are_non_negative_per_source_and_basis():
    torch.manual_seed(0)
    model = models.build("sepformer", CPU, n_src=3, sample_rate=SR)
    feats = model.encoder(model.pad(torch.randn(2, 1000)))
    masks = model.masker(feats)
    assert masks.shape == (2, 3, CPU["N_filters"], feats.shape[-1])
    assert (masks >= 0).all()


def test_training_loss_checks_shapes():
    model = models.build("sepformer", CPU, n_src=2, sample_rate=SR)
    with pytest.raises(ValueError):
        model.training_loss(torch.randn(1, 100), torch.randn(1, 3, 100))


def test_a_cpu_model_learns_to_separate_one_mixture():
    """Overfit one 0.5 s mixture: above 10 dB SI-SNRi within 300 Adam steps (~70 needed)."""
    torch.manual_seed(0)
    model: SepFormer = models.build("sepformer", CPU, n_src=2, sample_rate=SR)
    mixture, sources = voice_and_noise()
    best, step = train_on_one_mixture(model, mixture, sources, lr=2e-3, max_steps=300, every=10, target_db=10)
    assert best > 10, f"SI-SNRi only {best:.1f} dB after {step} steps"
