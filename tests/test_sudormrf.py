"""SuDoRM-RF and its U-ConvBlock: the paper preset's size against the published one, the
block's multi-resolution path, padding to a multiple of 2^Q frames, and masks for 1 to 3
sources. (Any length, the cpu preset's size and learning: test_family_contract.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.blocks.uconv import UConvBlock
from sweep.models.sudormrf import SuDoRMRF

SR = 8000
CPU = models.get_family("sudormrf").presets["cpu"]


# -- Size ---------------------------------------------------------------------------------


def test_paper_preset_size_is_pinned_and_near_the_published_one():
    """Ours: 2,650,245. The paper: 2.66M (SuDoRM-RF 1.0x); the lecture's table: 2.6M.

    The authors' code at their training scripts' default depth counts 2,662,022: 11,777
    more, all of it from two deliberate differences (see ``models/sudormrf.py``): one
    decoder per source (+10,753 over our shared one) and an unused GroupNorm (+1,024). The
    16 U-ConvBlocks, 155,904 weights each, are identical, so are encoder and mask head.
    """
    fam = models.get_family("sudormrf")
    model = models.build("sudormrf", fam.presets["paper"], n_src=2, sample_rate=SR)
    ours = model.param_count()
    assert ours == 2_650_245
    assert ours + 21_506 - 10_753 + 1_024 == 2_662_022  # the authors' model
    assert fam.published_params["paper"] == 2_660_000
    for published in (2_660_000, 2_600_000):
        assert abs(ours - published) <= 0.03 * published
    assert sum(p.numel() for p in UConvBlock(128, 512, 4).parameters()) == 155_904
    assert sum(p.numel() for p in model.masker.sm.parameters()) == 16 * 155_904
    # Only the mask layer depends on S: one (N + 1)-tap filter and a bias per source.
    three = models.build("sudormrf", fam.presets["paper"], n_src=3, sample_rate=SR)
    assert three.param_count() - ours == 513 + 1


# -- The U-ConvBlock ----------------------------------------------------------------------


def test_uconv_block_has_q_strided_depthwise_levels_and_keeps_the_shape():
    block = UConvBlock(out_channels=8, in_channels=16, downsampling_depth=3)
    convs = [level[0] for level in block.spp_dw]
    assert [c.stride[0] for c in convs] == [1, 2, 2, 2]
    assert all(c.kernel_size[0] == 5 and c.groups == 16 for c in convs)
    torch.manual_seed(0)
    for frames in (8, 64, 13):  # multiples of 2^Q, and (robustness) one that is not
        assert block(torch.randn(2, 8, frames)).shape == (2, 8, frames)


def test_uconv_block_merges_the_coarse_levels():
    """Zeroing a coarse level's depthwise filter must change the output: the levels are summed in."""
    torch.manual_seed(0)
    block = UConvBlock(out_channels=8, in_channels=16, downsampling_depth=2).eval()
    x = torch.randn(1, 8, 32)
    with torch.no_grad():
        before = block(x)
        block.spp_dw[2][0].weight.zero_()
        block.spp_dw[2][0].bias.zero_()
        after = block(x)
    assert not torch.allclose(before, after, atol=1e-4)


# -- The separator ------------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 17, 4001])
def test_padding_gives_frames_a_multiple_of_2_to_the_q(length: int):
    model: SuDoRMRF = models.build("sudormrf", {**CPU, "enc_kernel_size": 21}, n_src=2, sample_rate=SR)
    padded = model.pad(torch.randn(1, length))
    frames = model.encoder(padded).shape[-1]
    assert padded.shape[-1] >= length
    assert (padded.shape[-1] - 21) % 10 == 0
    assert frames % 2 ** CPU["downsampling_depth"] == 0
    # The least such padding: one multiple of 2^Q fewer frames would not hold the input.
    fewer = frames - 2 ** CPU["downsampling_depth"]
    assert fewer == 0 or (fewer - 1) * 10 + 21 < length


@pytest.mark.parametrize("n_src", [1, 2, 3])
def test_masks_partition_each_basis_among_the_sources(n_src: int):
    torch.manual_seed(0)
    model = models.build("sudormrf", CPU, n_src=n_src, sample_rate=SR)
    feats = model.encoder(model.pad(torch.randn(2, 1000)))
    masks = model.masker(feats)
    assert masks.shape == (2, n_src, CPU["enc_num_basis"], feats.shape[-1])
    assert ((masks >= 0) & (masks <= 1)).all()
    if n_src > 1:  # softmax across sources
        assert torch.allclose(masks.sum(1), torch.ones(()), atol=1e-5)


def test_odd_number_of_bases_works():
    model = models.build("sudormrf", {**CPU, "enc_num_basis": 63}, n_src=2, sample_rate=SR)
    assert model(torch.randn(1, 500)).shape == (1, 2, 500)

