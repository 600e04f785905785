"""Separation metrics: SI-SNR(i) and BSS-Eval SDR(i) / SIR / SAR, in dB, permutation-invariant.

All numpy functions compute in float64; inputs may be float32 numpy arrays or torch tensors
(any device) and are converted first.  Shapes use S = number of sources, T = samples.

Definitions
-----------
SI-SNR (scale-invariant SNR, Le Roux et al. 2019), both signals mean-removed first::

    t = (<est, ref> / ||ref||^2) ref,   e = est - t,   SI-SNR = 10 log10(||t||^2 / ||e||^2)

SDR, SIR and SAR are ``mir_eval.separation.bss_eval_sources``'s (Vincent et al. 2006): 512-tap
distortion filter, no mean removal.  :mod:`sweep.scoring.bss_eval` computes them for every
(estimate, reference) pair of an utterance from one Cholesky factorisation, in float64; the
tests hold them to mir_eval within 1e-6 dB (after the clamp below).  Signals shorter than the
filter are allowed: once the S x 512 delayed references span every one of the T + 511
dimensions, every estimate is fully "explained", so SAR = +clamp_db and SIR = SDR (mir_eval
gives the same up to rounding, e.g. SAR ~ 250 dB).

Improvements (SI-SNRi, SDRi) are ``metric(estimate) - metric(mixture)``, where the unprocessed
mixture is used as the estimate of every source; both terms are means over the S sources.

Permutation rule
----------------
``perm[k]`` is the index of the estimate assigned to reference ``k`` (so ``est[perm]`` is in
reference order); per-source results are ordered by reference.  This is the one convention of
the project: the training losses in ``sweep.models.blocks.pit`` and ``.losses`` use it too.
Each metric picks its own assignment, as the literature does:

* SI-SNR: the assignment maximising the mean SI-SNR (``linear_sum_assignment`` on the
  [S_ref, S_est] SI-SNR matrix, so it scales to any S).
* SDR: the assignment maximising the mean SIR, mir_eval's rule for ``bss_eval_sources`` with
  ``compute_permutation=True``; the SDR values of that assignment are reported.
* ``assignment="default"`` instead keeps the streams as emitted (identity, no permutation),
  for diagnosing a model's output order.  It is *not* the uPIT paper's "default assignment"
  (def. assign.): that one allows one permutation per utterance, i.e. ``assignment="optimal"``
  here, applied to the outputs as the model emits them; its "optimal assignment" (opt. assign.)
  re-assigns inside the model, frame by frame (see :mod:`sweep.scoring.evaluate`).

The mixture baseline does not depend on the assignment (the same mixture for every source).

Degenerate signals (eps handling)
---------------------------------
No additive eps is used, so the metrics are exactly scale-invariant.  Instead every value is
clipped to ``[-clamp_db, +clamp_db]`` (default ``DEFAULT_CLAMP_DB`` = 100 dB, far beyond any
real separator, oracle masks included), so a perfect estimate gives +100 dB rather than +inf
and test-set means stay finite.  With ``clamp_db=None`` values may be +-inf.

* A silent estimate row (all zeros; for SI-SNR: constant) scores ``-clamp_db`` (SDR, SIR and
  SAR alike): it carries no signal.  (mir_eval raises on silent estimates; nothing to match.)
* An estimate equal to its reference (up to a gain) scores ``+clamp_db``; mir_eval's values
  there are rounding noise above 200 dB, so they agree after the clamp.
* A silent reference row raises ``ValueError`` in :func:`score_utterance` and
  :func:`bss_eval_sources` (metric undefined, as in mir_eval); the low-level :func:`si_snr`
  scores it ``-clamp_db``.
* NaN or inf in any input raises ``ValueError`` in :func:`score_utterance`,
  :func:`bss_eval_sources` and :func:`pit_si_snri_torch`: a diverged model must not yield a
  silently wrong number.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from sweep.scoring.bss_eval import BssMatrices, bss_eval_matrices, ratio_db

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_CLAMP_DB", "BssEvalResult", "UtteranceScores", "best_permutation", "bss_eval_sources",
    "pairwise_si_snr", "pit_si_snri_torch", "score_utterance", "score_utterances", "si_snr",
]

DEFAULT_CLAMP_DB: float = 100.0
"""Metrics are clipped to +-this many dB (see the module docstring)."""

Assignment = Literal["optimal", "default"]


# ----------------------------------------------------------------------------- helpers


def _to_f64(x: Any, name: str) -> np.ndarray:
    """Return ``x`` (numpy array, torch tensor or nested sequence) as a float64 numpy array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu().double().numpy()  # .double() first: numpy has no bfloat16
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a time axis, got a scalar")
    return arr


def _check_finite(x: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` naming the offending rows when ``x`` holds NaN or inf."""
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(-1, x.shape[-1]).any(axis=-1)).tolist()
        raise ValueError(f"{name} contains NaN or inf values ({int(bad.sum())} samples, rows "
                         f"{rows}); a diverged model cannot be scored")


def _si_snr_core(est: np.ndarray, ref: np.ndarray, clamp_db: float | None) -> np.ndarray:
    """SI-SNR in dB over the last axis of broadcastable float64 ``est`` and ``ref``."""
    est = est - est.mean(axis=-1, keepdims=True)
    ref = ref - ref.mean(axis=-1, keepdims=True)
    ref_energy = np.sum(ref * ref, axis=-1, keepdims=True)
    dot = np.sum(est * ref, axis=-1, keepdims=True)
    # A silent reference spans nothing, so nothing of the estimate is "target".
    safe_energy = np.where(ref_energy > 0, ref_energy, 1.0)
    alpha = np.where(ref_energy > 0, dot / safe_energy, 0.0)
    target = alpha * ref
    # The residual is formed explicitly, not as ||est||^2 - ||t||^2, which would cancel
    # catastrophically for good estimates.
    noise = est - target
    # ratio_db maps 0 / 0 (a silent estimate) to -inf, then clamps.
    return ratio_db(np.sum(target * target, axis=-1), np.sum(noise * noise, axis=-1), clamp_db)


def _check_sources(est: np.ndarray, ref: np.ndarray) -> None:
    """Shapes [S, T] alike, all finite, no silent reference; else ``ValueError``."""
    if est.ndim != 2 or est.shape != ref.shape:
        raise ValueError(
            f"estimate {est.shape} and reference {ref.shape}: need the same [S, T] shape"
        )
    _check_finite(est, "estimate")
    _check_finite(ref, "reference")
    silent = np.flatnonzero(~np.any(ref != 0, axis=-1)).tolist()
    if silent:
        raise ValueError(f"reference rows {silent} are silent (all zeros); metrics undefined")


# ----------------------------------------------------------------------------- SI-SNR


def si_snr(est: Any, ref: Any, clamp_db: float | None = DEFAULT_CLAMP_DB) -> np.ndarray:
    """Scale-invariant SNR of ``est`` against ``ref``, per signal.

    Args:
        est: estimates, ``[..., T]`` samples (any float dtype, numpy or torch).
        ref: references, same shape as ``est``.
        clamp_db: values are clipped to ``[-clamp_db, clamp_db]`` dB; ``None`` leaves +-inf.

    Returns:
        ``[...]`` float64 SI-SNR in dB (both signals zero-mean; see module docstring for the
        silent-signal rules).
    """
    est_a, ref_a = _to_f64(est, "estimate"), _to_f64(ref, "reference")
    if est_a.shape != ref_a.shape:
        raise ValueError(f"estimate {est_a.shape} and reference {ref_a.shape} differ in shape")
    return _si_snr_core(est_a, ref_a, clamp_db)


def pairwise_si_snr(est: Any, ref: Any, clamp_db: float | None = DEFAULT_CLAMP_DB) -> np.ndarray:
    """SI-SNR of every estimate against every reference.

    Args:
        est: ``[S_est, T]`` estimates.
        ref: ``[S_ref, T]`` references.
        clamp_db: see :func:`si_snr`.

    Returns:
        ``[S_ref, S_est]`` float64 matrix in dB, ``out[k, j] = si_snr(est[j], ref[k])``.
    """
    est_a, ref_a = _to_f64(est, "estimate"), _to_f64(ref, "reference")
    if est_a.ndim != 2 or ref_a.ndim != 2 or est_a.shape[-1] != ref_a.shape[-1]:
        raise ValueError(f"need [S_est, T] and [S_ref, T]; got {est_a.shape} and {ref_a.shape}")
    return _si_snr_core(est_a[None, :, :], ref_a[:, None, :], clamp_db)


def best_permutation(scores: Any, maximize: bool = True) -> np.ndarray:
    """Optimal one-to-one assignment of estimates (columns) to references (rows).

    Solved with the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``), O(S^3),
    so it scales to many sources; ``+-inf`` entries are allowed (e.g. unclamped dB) and rank
    above/below every finite entry.

    Args:
        scores: ``[S, S]`` matrix, rows = references, columns = estimates.
        maximize: maximise the total score (``False``: minimise, e.g. for losses).

    Returns:
        ``perm`` of shape ``[S]`` (int64): ``perm[k]`` is the estimate assigned to reference k.
    """
    mat = _to_f64(scores, "scores")
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"scores must be a square [S, S] matrix, got {mat.shape}")
    if np.isnan(mat).any():
        raise ValueError("scores contain NaN; no assignment is defined")
    inf = np.isinf(mat)
    if inf.any():
        # linear_sum_assignment rejects infinities.  Stand-ins `big` beyond the finite range
        # make any total containing one +inf beat (and one -inf lose to) all-finite totals.
        finite = mat[~inf]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        big = 2.0 * mat.shape[0] * (hi - lo + 1.0)
        mat = np.where(np.isposinf(mat), hi + big, np.where(np.isneginf(mat), lo - big, mat))
    rows, cols = linear_sum_assignment(mat, maximize=maximize)
    perm = np.empty(mat.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


# ----------------------------------------------------------------------------- BSS-Eval


def _assign(scores: np.ndarray, assignment: Assignment) -> np.ndarray:
    """``perm`` maximising the total of ``scores`` [S_ref, S_est], or the identity."""
    if assignment == "optimal":
        return best_permutation(scores, maximize=True)
    if assignment == "default":
        return np.arange(scores.shape[0], dtype=np.int64)
    raise ValueError(f"assignment must be 'optimal' or 'default', got {assignment!r}")


class BssEvalResult(NamedTuple):
    """``mir_eval.separation.bss_eval_sources``'s four outputs, ordered by reference (dB)."""

    sdr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    perm: np.ndarray


def _clamped(mats: BssMatrices, clamp_db: float | None) -> BssMatrices:
    if clamp_db is None:
        return mats
    return BssMatrices(*(np.clip(m, -clamp_db, clamp_db) for m in (mats.sdr, mats.sir, mats.sar)))


def _pick(mats: BssMatrices, sir_raw: np.ndarray, assignment: Assignment, cols: slice) -> BssEvalResult:
    """Criteria of the estimates in ``cols`` under the SDR permutation rule (max total SIR,
    on unclamped SIR as mir_eval does; ``+inf`` entries are allowed)."""
    perm = _assign(sir_raw[:, cols], assignment)
    rows = np.arange(len(perm))
    picked = np.arange(cols.start, cols.stop)[perm]
    return BssEvalResult(mats.sdr[rows, picked], mats.sir[rows, picked], mats.sar[picked], perm)


def bss_eval_sources(
    est: Any,
    ref: Any,
    assignment: Assignment = "optimal",
    clamp_db: float | None = DEFAULT_CLAMP_DB,
) -> BssEvalResult:
    """SDR, SIR and SAR as ``mir_eval.separation.bss_eval_sources`` defines them.

    Args:
        est: ``[S, T]`` estimates (samples).
        ref: ``[S, T]`` references.
        assignment: ``"optimal"``: mir_eval's ``compute_permutation=True`` (max mean SIR);
            ``"default"``: streams as emitted (mir_eval's ``compute_permutation=False``).
        clamp_db: clip every value to +-clamp_db dB (mir_eval returns up to +-inf).

    Returns:
        :class:`BssEvalResult` ``(sdr, sir, sar, perm)``, each ``[S]``, ordered by reference:
        ``sdr[k] = SDR(est[perm[k]], ref[k])``.

    Raises:
        ValueError: on shape mismatch, NaN/inf in any input, or a silent reference.
    """
    est_a, ref_a = _to_f64(est, "estimate"), _to_f64(ref, "reference")
    _check_sources(est_a, ref_a)
    raw = bss_eval_matrices(ref_a, est_a, None)
    return _pick(_clamped(raw, clamp_db), raw.sir, assignment, slice(0, est_a.shape[0]))


# ----------------------------------------------------------------------------- utterances


@dataclass(frozen=True)
class UtteranceScores:
    """Scores of one separated utterance; all values are means over sources, in dB.

    The permutations follow the module's rule: ``perm[k]`` = estimate assigned to reference k.
    ``sir`` and ``sar`` belong to the SDR permutation (as in mir_eval); the ``*_sources``
    tuples hold the per-reference SDR / SIR / SAR behind the means.
    """

    si_snr: float
    si_snri: float
    sdr: float
    sdri: float
    si_snr_perm: tuple[int, ...]
    sdr_perm: tuple[int, ...]
    assignment: Assignment = "optimal"
    sir: float = float("nan")
    sar: float = float("nan")
    sdr_sources: tuple[float, ...] = ()
    sir_sources: tuple[float, ...] = ()
    sar_sources: tuple[float, ...] = ()


def score_utterance(
    est: Any,
    ref: Any,
    mix: Any,
    assignment: Assignment = "optimal",
    clamp_db: float | None = DEFAULT_CLAMP_DB,
) -> UtteranceScores:
    """SI-SNR(i), SDR(i), SIR and SAR of one utterance, permutation-invariant by default.

    Args:
        est: ``[S, T]`` separated sources (samples, any float dtype, numpy or torch).
        ref: ``[S, T]`` clean references.
        mix: ``[T]`` the unprocessed mixture, the baseline estimate for every source.
        assignment: ``"optimal"`` (each metric's own best permutation, see module docstring)
            or ``"default"`` (streams as emitted, no permutation; not the uPIT paper's
            "default assignment", see the module docstring).
        clamp_db: per-source values are clipped to +-clamp_db dB before averaging.

    Returns:
        :class:`UtteranceScores`.

    Raises:
        ValueError: on shape mismatch, NaN/inf in any input, or a silent reference.
    """
    return score_utterances([est], ref, mix, assignment, clamp_db)[0]


def score_utterances(
    estimates: Sequence[Any],
    ref: Any,
    mix: Any,
    assignment: Assignment = "optimal",
    clamp_db: float | None = DEFAULT_CLAMP_DB,
) -> list[UtteranceScores]:
    """:func:`score_utterance` for several estimates of the same utterance (e.g. a model's
    default and frame-wise optimal outputs, or several oracle masks) in one pass: BSS-Eval's
    costly part, the factorisation of the references' Gram matrix, is done once."""
    ref_a = _to_f64(ref, "reference")
    mix_a = _to_f64(mix, "mixture")
    ests = [_to_f64(e, "estimate") for e in estimates]
    for e in ests:
        _check_sources(e, ref_a)
    if mix_a.shape != (ref_a.shape[-1],):
        raise ValueError(f"mixture must be [T] = ({ref_a.shape[-1]},), got {mix_a.shape}")
    _check_finite(mix_a, "mixture")
    n = ref_a.shape[0]

    # The mixture rides along as an extra estimate column: one pass gives both the
    # estimate-vs-reference matrices and the mixture baseline.
    est_aug = np.concatenate(ests + [mix_a[None, :]], axis=0)  # [K * S + 1, T]
    rows = np.arange(n)
    si_all = _si_snr_core(est_aug[None, :, :], ref_a[:, None, :], clamp_db)  # [S, K * S + 1]
    raw = bss_eval_matrices(ref_a, est_aug, None)
    mats, sir_raw = _clamped(raw, clamp_db), raw.sir
    si_mix = float(np.mean(si_all[:, -1]))
    sdr_mix = float(np.mean(mats.sdr[:, -1]))
    out = []
    for k in range(len(ests)):
        cols = slice(k * n, (k + 1) * n)
        si_mat = si_all[:, cols]
        si_perm = _assign(si_mat, assignment)
        bss = _pick(mats, sir_raw, assignment, cols)
        si_est = float(np.mean(si_mat[rows, si_perm]))
        sdr_est = float(np.mean(bss.sdr))
        out.append(UtteranceScores(
            si_snr=si_est,
            si_snri=si_est - si_mix,
            sdr=sdr_est,
            sdri=sdr_est - sdr_mix,
            si_snr_perm=tuple(int(p) for p in si_perm),
            sdr_perm=tuple(int(p) for p in bss.perm),
            assignment=assignment,
            sir=float(np.mean(bss.sir)),
            sar=float(np.mean(bss.sar)),
            sdr_sources=tuple(float(x) for x in bss.sdr),
            sir_sources=tuple(float(x) for x in bss.sir),
            sar_sources=tuple(float(x) for x in bss.sar),
        ))
    return out


# ----------------------------------------------------------------------------- torch


_MAX_ENUMERATED_SOURCES = 6  # 720 permutations; beyond that use score_utterance's solver


def _si_snr_torch(est: torch.Tensor, ref: torch.Tensor, clamp_db: float | None) -> torch.Tensor:
    """Torch twin of :func:`_si_snr_core` (same silent-signal rules), broadcasting, float64."""
    import torch

    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    ref_energy = (ref * ref).sum(dim=-1, keepdim=True)
    dot = (est * ref).sum(dim=-1, keepdim=True)
    alpha = torch.where(ref_energy > 0, dot / torch.where(ref_energy > 0, ref_energy, 1.0), 0.0)
    target = alpha * ref
    noise = est - target
    db = 10.0 * (torch.log10((target * target).sum(-1)) - torch.log10((noise * noise).sum(-1)))
    db = torch.where(torch.isnan(db), -torch.inf, db)
    return db if clamp_db is None else db.clamp(-clamp_db, clamp_db)


def pit_si_snri_torch(
    est: torch.Tensor,
    ref: torch.Tensor,
    mix: torch.Tensor,
    clamp_db: float | None = DEFAULT_CLAMP_DB,
) -> torch.Tensor:
    """Permutation-invariant SI-SNR improvement per utterance, for validation during training.

    Same definition and clamping as :func:`score_utterance`'s ``si_snri``, computed on the
    tensors' device in float64 without gradients (a metric, not a loss).  The best permutation
    is found by enumerating all S! of them, so S is limited to 6.

    Args:
        est: ``[B, S, T]`` separated sources.
        ref: ``[B, S, T]`` references.
        mix: ``[B, T]`` mixtures.
        clamp_db: see :func:`si_snr`.

    Returns:
        ``[B]`` float64 tensor, SI-SNRi in dB (mean over sources, best permutation each).

    Raises:
        ValueError: on shape mismatch, too many sources, or NaN/inf in any input.
    """
    import torch

    if est.dim() != 3 or est.shape != ref.shape or mix.shape != (est.shape[0], est.shape[2]):
        raise ValueError(f"need est, ref [B, S, T] and mix [B, T]; got {tuple(est.shape)}, "
                         f"{tuple(ref.shape)}, {tuple(mix.shape)}")
    n_src = est.shape[1]
    if n_src > _MAX_ENUMERATED_SOURCES:
        raise ValueError(f"{n_src} sources: too many permutations; use score_utterance")
    with torch.no_grad():
        est64, ref64, mix64 = (x.detach().to(torch.float64) for x in (est, ref, mix))
        for name, x in (("estimate", est64), ("reference", ref64), ("mixture", mix64)):
            if not bool(torch.isfinite(x).all()):  # one host sync each; fine for validation
                raise ValueError(f"{name} contains NaN or inf values; cannot be scored")
        # [B, S_ref, S_est]
        pair = _si_snr_torch(est64[:, None, :, :], ref64[:, :, None, :], clamp_db)
        perms = torch.tensor(list(itertools.permutations(range(n_src))), device=est.device)
        rows = torch.arange(n_src, device=est.device)
        per_perm = pair[:, rows[None, :], perms].mean(dim=-1)  # [B, S!]
        best = per_perm.max(dim=-1).values
        baseline = _si_snr_torch(mix64[:, None, :], ref64, clamp_db).mean(dim=-1)  # [B]
    return best - baseline
