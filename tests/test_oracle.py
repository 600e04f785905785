"""Specifications of sweep.scoring.oracle and of the assignments sweep.scoring.evaluate reports:
the oracle masks, the family whose STFT they use, their stored reference rows, and which models
get "optimal" rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sweep import models
from sweep.data import wsj0mix
from sweep.models.blocks.stft import STFTEncoder, stft_params
from sweep.scoring.evaluate import evaluate
from sweep.scoring.oracle import (ORACLE_MASKS, compute_oracle, ensure_oracle, oracle_estimates, oracle_family,
                                  oracle_masks, oracle_stft_for)
from sweep.scoring.registry import TEST_METRICS
from sweep.store import Store


def _signals(n_src: int = 2, n: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sources = torch.randn(n_src, n, generator=g, dtype=torch.float64)
    return sources.sum(0), sources


def test_masks_follow_their_definitions() -> None:
    mix, sources = _signals(3)
    enc = STFTEncoder(*stft_params(8000)).double()
    y, x = enc(mix), enc(sources)
    m = oracle_masks(y, x)
    assert list(m) == list(ORACLE_MASKS)
    torch.testing.assert_close(m["IRM"].sum(0), torch.ones_like(y.real))
    torch.testing.assert_close(m["WFM"].sum(0), torch.ones_like(y.real))
    assert set(m["IBM"].unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(m["IBM"].sum(0), torch.ones_like(y.real))
    # IPSM * |Y| is the projection of X_s on the mixture phase; the projections add up to |Y|.
    torch.testing.assert_close((m["IPSM"] * y.abs()).sum(0), y.abs(), atol=1e-9, rtol=1e-9)


def test_oracle_estimates_add_up_to_the_mixture_and_ipsm_beats_irm() -> None:
    from sweep.scoring.metrics import score_utterances

    mix, sources = _signals()
    est = oracle_estimates(mix, sources, 8000)
    for name in ("IPSM", "IRM", "WFM", "IBM"):  # masks sum to 1 in every bin
        torch.testing.assert_close(est[name].sum(0), mix, atol=1e-9, rtol=1e-9)
    ipsm, irm = score_utterances([est["IPSM"].numpy(), est["IRM"].numpy()], sources.numpy(), mix.numpy())
    assert ipsm.sdri > irm.sdri and ipsm.si_snri > irm.si_snri


def test_ensure_oracle_stores_rows_once(tiny_data, tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'o.db'}")
    rows = ensure_oracle(store, tiny_data, 2, 8000, max_utterances=2)
    assert [r["mask"] for r in rows[:4]] == list(ORACLE_MASKS)
    assert {r["condition"] for r in rows} == {"closed", "open"} and all(r["n_utterances"] == 2 for r in rows)
    frame = store.oracle_frame(str(tiny_data.resolve()))
    assert len(frame) == 8 and np.isfinite(frame["sdri"]).all()
    assert ensure_oracle(store, tiny_data, 2, 8000, max_utterances=2) is None  # cached
    assert frame[frame["mask"] == "IPSM"]["sdri"].min() > 5.0


def test_the_oracle_stft_is_the_first_declared_one_among_the_families() -> None:
    declaring = [n for n, f in models.FAMILIES.items() if f.oracle_stft is not None]
    assert oracle_family() == declaring[0]
    assert oracle_family(["convtasnet", "dprnn"]) is None and oracle_stft_for(["convtasnet"], 8000) is None
    assert oracle_family(["convtasnet", "upit"]) == "upit"
    assert oracle_stft_for(["convtasnet", "upit"], 8000)[2] == "256/64/256 sqrt-hann"
    assert oracle_stft_for(None, 16000)[2] == "512/128/512 sqrt-hann"
    with pytest.raises(KeyError, match="nope"):
        oracle_family(["nope"])


def test_a_family_without_an_oracle_stft_is_refused() -> None:
    mix, sources = _signals()
    with pytest.raises(ValueError, match=r"'dprnn' declares no oracle_stft; families that do: \[.*'upit'.*\]"):
        oracle_estimates(mix, sources, 8000, family="dprnn")


def test_oracle_rows_carry_the_familys_stft(tiny_data) -> None:
    rows = compute_oracle(tiny_data, 2, 8000, max_utterances=1, workers=1, family="upit")
    assert {r["stft"] for r in rows} == {"256/64/256 sqrt-hann"} and len(rows) == 2 * len(ORACLE_MASKS)


@pytest.mark.parametrize("family", ["upit", "convtasnet"])
def test_only_models_with_an_oracle_assignment_get_optimal_rows(tiny_data, family: str) -> None:
    torch.manual_seed(0)
    model = models.build(family, models.get_family(family).presets["cpu"], n_src=2, sample_rate=8000)
    rows = evaluate(model, wsj0mix.test_conditions(tiny_data), 2, 8000, torch.device("cpu"), max_utterances=2)
    expected = ["default", "optimal"] if models.get_family(family).has_oracle_assignment else ["default"]
    for condition in ("closed", "open"):
        assert [r["assignment"] for r in rows if r["condition"] == condition] == expected
    for r in rows:
        assert r["n_utterances"] == 2 and len(r["utterances"]) == 2
        for m in TEST_METRICS:  # one key per registered test metric, the mean of the utterances
            assert r[m.name] == pytest.approx(np.mean([u[m.name] for u in r["utterances"]]))
