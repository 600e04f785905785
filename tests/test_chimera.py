"""Chimera++ and WA-MISI-5: the paper presets' size, the two heads and which one inference uses,
and the MISI phase iterations. (Any length, S = 3, the cpu preset and learning:
test_family_contract.py; the chimera loss and tPSA by hand: test_clustering_losses.py.)"""

from __future__ import annotations

import pytest
import torch

from sweep import models
from sweep.models.chimera import ChimeraPP, misi

SR = 8000
TINY = {"num_layers": 1, "hidden_size": 16, "embedding_dim": 4}


def tiny(n_src: int = 2, **overrides) -> ChimeraPP:
    torch.manual_seed(0)
    return models.build("chimera", {**TINY, **overrides}, n_src=n_src, sample_rate=SR)


def snr_db(est: torch.Tensor, ref: torch.Tensor) -> float:
    return (10 * torch.log10(ref.pow(2).sum() / (est - ref).pow(2).sum())).item()


def test_paper_presets_size() -> None:
    # 4 x 600 BLSTM on 129 bins, DC head 1200 -> 129 x 20, MI head 1200 -> 2 x 129. MISI has no
    # weights, so WA-MISI-5 is the same network. Published: 32.9M for both rows.
    lstm = 4800 * (129 + 602) + 3 * 4800 * (1200 + 602)
    dc, mi = 1200 * 2580 + 2580, 1200 * 258 + 258
    assert lstm + dc + mi == 32_866_038
    family = models.get_family("chimera")
    for preset in ("paper", "paper_wa_misi5"):
        with torch.device("meta"):
            assert models.build("chimera", family.presets[preset]).param_count() == 32_866_038
    assert family.published_params == {"paper": 32_900_000, "paper_wa_misi5": 32_900_000}
    assert family.published_systems == ("Chimera++", "WA-MISI-5") and family.inference == "clustering"
    assert family.preset("paper_wa_misi5")["phase_iterations"] == 5 and family.preset("paper")["phase_iterations"] == 0


def test_inference_uses_the_mi_head_or_kmeans_on_the_dc_head() -> None:
    mixture = torch.randn(1, 1000)
    mi, dc = tiny().eval(), tiny(inference_head="dc").eval()
    emb, weights, masks, mix_spec = mi.heads(mixture)
    torch.testing.assert_close(mi(mixture), mi.synthesize(masks, mix_spec, 1000))
    binary = dc.cluster_masks(emb, weights, mix_spec)  # same weights: both built from seed 0
    assert set(binary.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(dc(mixture), dc.synthesize(binary, mix_spec, 1000))
    assert torch.equal(dc(mixture), dc(mixture))
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(emb.shape[:2]))


def test_both_heads_learn_from_the_chimera_loss() -> None:
    model = tiny(3)
    model.training_loss(torch.randn(2, 600), torch.randn(2, 3, 600)).backward()
    assert model.embedding.linear.weight.grad.abs().sum() > 0
    assert model.mask_head.linear.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="objective must be one of"):
        ChimeraPP(objective="nope")


def test_misi_keeps_consistent_spectra_and_restores_phase() -> None:
    model = tiny()
    torch.manual_seed(2)
    sources = torch.randn(1, 2, 2000)
    mixture = sources.sum(dim=1)
    exact = model.encoder(sources)
    # The true spectra are a fixed point: they are consistent and already sum to the mixture.
    torch.testing.assert_close(misi(exact, mixture, 3, model.encoder, model.decoder), sources, atol=1e-4, rtol=0)
    # True magnitudes with the mixture's phase: MISI moves the waveforms towards the sources.
    mix_phase = exact.abs() * torch.exp(1j * model.encoder(mixture).angle()).unsqueeze(1)
    before = snr_db(misi(mix_phase, mixture, 0, model.encoder, model.decoder), sources)
    after = snr_db(misi(mix_phase, mixture, 5, model.encoder, model.decoder), sources)
    assert after > before + 1.0


def test_wa_objective_trains_through_the_phase_iterations() -> None:
    model = tiny(phase_iterations=2, objective="wa")
    mixture, sources = torch.randn(1, 700), torch.randn(1, 2, 700)
    loss = model.training_loss(mixture, sources)
    loss.backward()
    assert torch.isfinite(loss) and model.mask_head.linear.weight.grad.abs().sum() > 0
    assert model(torch.randn(2, 1)).shape == (2, 2, 1)
