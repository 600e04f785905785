"""Specifications of sweep.oracle: the oracle masks and their stored reference rows."""

from __future__ import annotations

import numpy as np
import torch

from models.blocks.stft import STFTEncoder, stft_params
from sweep.oracle import ORACLE_MASKS, ensure_oracle, oracle_estimates, oracle_masks
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
    from sweep.metrics import score_utterances

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
