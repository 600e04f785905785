"""VSUNOS: the paper preset's size, the MulCat block, and deep supervision (a loss on every
block's estimate; forward returns the last). (Any length, the cpu preset, learning:
test_family_contract.py.)"""

from __future__ import annotations

import itertools

import torch

from sweep import models
from sweep.models.blocks.mulcat import MulCat
from sweep.models.vsunos import VSUNOS

SR = 8000
TINY = {"N": 8, "L": 4, "H": 8, "R": 3, "K": 6}


def build(params: dict, n_src: int = 2) -> VSUNOS:
    torch.manual_seed(0)
    return models.build("vsunos", params, n_src=n_src, sample_rate=SR)


def test_paper_preset_is_within_5_percent_of_published() -> None:
    # 6 blocks x 2 MulCats x 627,072 + norms, head and filterbank (module docstring).
    family = models.get_family("vsunos")
    with torch.device("meta"):
        count = models.build("vsunos", family.presets["paper"]).param_count()
    assert count == 7_561_985
    assert abs(count - family.published_params["paper"]) / 7_500_000 < 0.05
    assert family.published_systems == ("VSUNOS",)


def test_one_mulcat_has_two_blstms_two_projections_and_the_block_projection() -> None:
    C, H = 128, 128
    lstm = 2 * 4 * H * (C + H + 2)  # two directions, four gates, input + hidden weights, two biases
    assert sum(p.numel() for p in MulCat(C, H).parameters()) == 2 * (lstm + 2 * H * C + C) + 2 * C * C + C


def test_mulcat_concatenates_the_product_with_its_input() -> None:
    block = MulCat(4, 3)
    x = torch.randn(2, 5, 4)
    with torch.no_grad():
        block.block_proj.weight.copy_(torch.cat([torch.zeros(4, 4), torch.eye(4)], dim=1))  # keep the input half
        block.block_proj.bias.zero_()
        torch.testing.assert_close(block(x), x)
        block.block_proj.weight.copy_(torch.cat([torch.eye(4), torch.zeros(4, 4)], dim=1))  # keep the product half
        value = block.rnn_proj(block.rnn(x)[0])
        gate = block.gate_proj(block.gate_rnn(x)[0])
        torch.testing.assert_close(block(x), value * gate)


def _neg_si_snr_upit(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Textbook uPIT negative SI-SNR of one utterance, ``[S, T]`` each."""
    def si_snr(e: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        e, r = e - e.mean(), r - r.mean()
        t = (e @ r) / (r @ r) * r
        return 10 * torch.log10(t.pow(2).sum() / (e - t).pow(2).sum())
    S = ref.shape[0]
    return -max(sum(si_snr(est[p[k]], ref[k]) for k in range(S)) / S for p in itertools.permutations(range(S)))


def test_loss_is_the_mean_over_blocks_and_forward_is_the_last_block() -> None:
    model = build(TINY)
    torch.manual_seed(1)
    sources = torch.randn(1, 2, 240)
    mixture = sources.sum(1)
    with torch.no_grad():
        per_block = model.estimates(mixture, every_block=True)
        assert len(per_block) == 3
        expected = sum(_neg_si_snr_upit(est[0], sources[0]) for est in per_block) / 3
        torch.testing.assert_close(model.training_loss(mixture, sources), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model(mixture), per_block[-1])
