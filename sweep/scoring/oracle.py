"""Oracle masks: the upper reference the uPIT table is read against (``sweep oracle``).

Each mask is computed from the clean sources, applied to the mixture STFT (mixture phase)
and inverted, with the **same STFT as the mask family being read against them**: the one its
:class:`~sweep.models.Family` declares as ``oracle_stft`` (uPIT's: 32 ms sqrt-Hann window, 8 ms
hop), so the rows bound exactly what that family's masks could reach.
With mixture ``Y`` and source ``X_s`` in each T-F bin (S sources):

=====  ===============================================  =======================================
IPSM   ``|X_s| cos(theta_Y - theta_s) / |Y|``           ideal phase-sensitive mask (unbounded)
IRM    ``|X_s| / sum_k |X_k|``                          ideal ratio mask (magnitude ratio)
IBM    ``1`` where ``|X_s|`` is the largest, else ``0``  ideal binary mask (ties: lowest index)
WFM    ``|X_s|^2 / sum_k |X_k|^2``                      Wiener-like (power ratio) mask
=====  ===============================================  =======================================

Bins where the denominator is 0 get mask 0 (they hold no energy). The estimates are scored
with the same rule as every trial (:func:`sweep.scoring.metrics.score_utterances`, optimal
permutation) on the first ``max_utterances`` mixtures of each test condition, the ones a
trial with the same ``train.max_eval_utterances`` sees. Rows are ordered as the lecture's
table orders them: IPSM above IRM, then IBM and WFM.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from sweep import models
from sweep.data.wsj0mix import Wsj0MixDataset, test_conditions
from sweep.scoring.pool import score_many
from sweep.scoring.stats import mean_ci

__all__ = ["ORACLE_MASKS", "compute_oracle", "ensure_oracle", "oracle_estimates", "oracle_family", "oracle_masks",
           "oracle_stft_for"]

ORACLE_MASKS: tuple[str, ...] = ("IPSM", "IRM", "IBM", "WFM")


def oracle_masks(mix_spec: torch.Tensor, src_spec: torch.Tensor) -> dict[str, torch.Tensor]:
    """The four oracle masks.

    Args:
        mix_spec: ``[F, N]`` complex mixture STFT ``Y``.
        src_spec: ``[S, F, N]`` complex source STFTs ``X_s``.

    Returns:
        ``{name: [S, F, N] real mask}`` in :data:`ORACLE_MASKS` order.
    """
    mag = src_spec.abs()
    mix_mag = mix_spec.abs()

    def safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
        return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.zeros_like(num))

    phase_diff = torch.cos(mix_spec.angle().unsqueeze(0) - src_spec.angle())
    power = mag * mag
    ibm = torch.zeros_like(mag).scatter_(0, mag.argmax(dim=0, keepdim=True), 1.0)
    return {
        "IPSM": safe_div(mag * phase_diff, mix_mag.unsqueeze(0).expand_as(mag)),
        "IRM": safe_div(mag, mag.sum(dim=0, keepdim=True).expand_as(mag)),
        "IBM": ibm,
        "WFM": safe_div(power, power.sum(dim=0, keepdim=True).expand_as(power)),
    }


def oracle_family(families: Iterable[str] | None = None) -> str | None:
    """The first of ``families`` that declares an ``oracle_stft``, or ``None`` if none does.

    Args:
        families: family names in order of preference; ``None``: every registered family, in
            registration order.

    Raises:
        KeyError: an unknown family name.
    """
    names = list(models.FAMILIES) if families is None else list(families)
    return next((name for name in names if models.get_family(name).oracle_stft is not None), None)


def oracle_stft_for(families: Iterable[str] | None, sample_rate: int) -> tuple[nn.Module, nn.Module, str] | None:
    """``(encoder, decoder, label)`` of :func:`oracle_family`'s STFT at ``sample_rate``, or ``None``.

    A study whose families declare no ``oracle_stft`` has no oracle rows to be read against.
    """
    name = oracle_family(families)
    return None if name is None else models.get_family(name).oracle_stft(sample_rate)


def _stft(sample_rate: int, family: str | None) -> tuple[nn.Module, nn.Module, str]:
    """The oracle STFT of ``family`` (default: the first registered family that has one)."""
    stft = oracle_stft_for(None if family is None else [family], sample_rate)
    if stft is None:
        have = [n for n, f in models.FAMILIES.items() if f.oracle_stft is not None]
        raise ValueError(f"family {family!r} declares no oracle_stft; families that do: {have}")
    return stft


def oracle_estimates(mix: torch.Tensor, sources: torch.Tensor, sample_rate: int,
                     family: str | None = None) -> dict[str, torch.Tensor]:
    """Masked-mixture waveforms of every oracle mask: ``[T]``, ``[S, T]`` -> ``{name: [S, T]}``.

    Computed in float64 so the oracle's own rounding stays far below the reported 0.01 dB.

    Args:
        family: whose ``oracle_stft`` to use (default: the first registered family that has one).
    """
    enc, dec, _ = _stft(sample_rate, family)
    enc, dec = enc.double(), dec.double()
    mix64, src64 = mix.double(), sources.double()
    mix_spec, src_spec = enc(mix64), enc(src64)
    length = mix.shape[-1]
    return {name: dec(m * mix_spec.unsqueeze(0), length) for name, m in oracle_masks(mix_spec, src_spec).items()}


def compute_oracle(root: str | Path, n_src: int, sample_rate: int, max_utterances: int | None = None,
                   workers: int | None = None, progress: Callable[[str, int, int], None] | None = None,
                   *, family: str | None = None) -> list[dict]:
    """Oracle rows for both test conditions of the dataset at ``root``.

    Args:
        family: whose ``oracle_stft`` the masks use (default: the first registered family
            that declares one).

    Returns:
        One dict per (condition, mask) in :data:`ORACLE_MASKS` order, with the keys of
        :class:`sweep.store.OracleRow`: means and 95% CI half-widths of SI-SNRi and SDRi, mean
        SIR and SAR (dB), ``n_utterances``, ``dataset`` (the resolved root), ``stft``.
    """
    root = Path(root).resolve()
    label = _stft(sample_rate, family)[2]
    rows: list[dict] = []
    for condition, folder in test_conditions(root).items():
        ds = Wsj0MixDataset(folder, n_src=n_src, segment=None, sample_rate=sample_rate)
        n = len(ds) if max_utterances is None else min(len(ds), int(max_utterances))
        jobs = []
        for i in range(n):
            mix, sources, _ = ds[i]
            est = oracle_estimates(mix, sources, sample_rate, family)
            jobs.append(([est[m].numpy() for m in ORACLE_MASKS], sources.double().numpy(), mix.double().numpy()))
            if progress:
                progress(condition, i + 1, n)
        # A pool costs a few seconds to start; worth it only for real test sets.
        n_workers = workers if workers is not None else ((os.cpu_count() or 1) if n >= 32 else 1)
        scored = score_many(jobs, workers=n_workers)
        for k, mask in enumerate(ORACLE_MASKS):
            utts = [u[k] for u in scored]
            si, sd = mean_ci([u.si_snri for u in utts]), mean_ci([u.sdri for u in utts])
            rows.append({
                "dataset": str(root), "condition": condition, "mask": mask, "n_utterances": n,
                "sample_rate": sample_rate, "stft": label,
                "si_snri": si.mean, "si_snri_ci": None if np.isnan(si.half_width) else si.half_width,
                "sdri": sd.mean, "sdri_ci": None if np.isnan(sd.half_width) else sd.half_width,
                "sir": float(np.mean([u.sir for u in utts])), "sar": float(np.mean([u.sar for u in utts])),
            })
    return rows


def ensure_oracle(store, root: str | Path, n_src: int, sample_rate: int, max_utterances: int | None = None,
                  force: bool = False, progress: Callable[[str, int, int], None] | None = None,
                  *, family: str | None = None) -> list[dict] | None:
    """Compute and store the oracle rows of ``root`` unless the store has them already (for
    this sample rate and this family's STFT).

    Args:
        family: whose ``oracle_stft`` the masks use (default: the first registered family
            that declares one); see :func:`oracle_family` to pick it from a study's families.

    Returns the new rows, or ``None`` when nothing was computed.
    """
    root = Path(root).resolve()
    if not force:
        label = _stft(sample_rate, family)[2]
        have = store.oracle_frame(str(root))
        have = have[(have["sample_rate"] == sample_rate) & (have["stft"] == label)]
        present = {(c, m, int(n)) for c, m, n in zip(have["condition"], have["mask"], have["n_utterances"])}
        wanted = set()
        for condition, folder in test_conditions(root).items():
            size = sum(1 for p in (Path(folder) / "mix").iterdir() if p.suffix == ".wav")
            n = size if max_utterances is None else min(size, int(max_utterances))
            wanted |= {(condition, m, n) for m in ORACLE_MASKS}
        if wanted <= present:
            return None
    rows = compute_oracle(root, n_src, sample_rate, max_utterances, progress=progress, family=family)
    store.add_oracle(rows)
    return rows
