"""BSS-Eval (Vincent et al. 2006) for all estimate/reference pairs of one utterance at once.

This is ``mir_eval.separation.bss_eval_sources``'s decomposition with its 512-tap
time-invariant distortion filter, computed so that every pair of an utterance shares one
factorisation. For an estimate ``e`` and references ``s_1..s_S`` (``T`` samples each):

* ``P_i e``: least-squares projection of ``e`` on the ``L`` delayed copies (delays
  ``0..L-1``) of reference ``i``; ``P e``: the same on the delayed copies of all references.
* ``SDR_i = ||P_i e||^2 / ||e - P_i e||^2``, ``SIR_i = ||P_i e||^2 / ||P e - P_i e||^2``,
  ``SAR = ||P e||^2 / ||e - P e||^2`` (in dB; SAR does not depend on ``i``).

With the rows normalised to unit norm (all three ratios are scale-invariant) and ``G`` the
Gram matrix of the delayed references, ``||P e||^2 = d^T G^-1 d = ||C^-1 d||^2`` where ``C``
is the Cholesky factor of ``G`` and ``d`` the correlations of ``e`` with the delayed
references. mir_eval instead solves one ``[S L, S L]`` LU system per (estimate, reference)
pair, plus one ``[L, L]`` system; here one ``[S L, S L]`` Cholesky factor serves every
estimate (the mixture baseline included) and one ``[L, L]`` factor per reference serves every
``P_i``. Source 0's ``P_0`` comes free from the leading block of the full factor.

Why torch for the factorisation: its CPU build links MKL, whose ``dpotrf`` measured about
twice as fast on this project's machine as the OpenBLAS one that numpy/scipy ship, and it is
the single largest cost. Everything is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FILTER_LENGTH: int = 512
"""Distortion filter length of mir_eval's ``bss_eval_sources`` (taps)."""

__all__ = ["FILTER_LENGTH", "BssMatrices", "bss_eval_matrices", "ratio_db"]


def ratio_db(num: np.ndarray, den: np.ndarray, clamp_db: float | None) -> np.ndarray:
    """``10 log10(num / den)`` for energies >= 0; ``0 / 0`` maps to ``-inf`` (no signal).

    ``x / 0`` (x > 0) is ``+inf``, as in mir_eval's ``_safe_db``. Values are clipped to
    ``[-clamp_db, clamp_db]`` unless ``clamp_db`` is None.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        db = 10.0 * (np.log10(num) - np.log10(den))
    db = np.where(np.isnan(db), -np.inf, db)
    return db if clamp_db is None else np.clip(db, -clamp_db, clamp_db)


@dataclass(frozen=True)
class BssMatrices:
    """Pairwise BSS-Eval criteria of one utterance, in dB (clamped as requested).

    Attributes:
        sdr: ``[S, K]``, ``sdr[i, k]`` = SDR of estimate ``k`` against reference ``i``.
        sir: ``[S, K]``, same layout.
        sar: ``[K]``, per estimate (independent of the reference it is paired with).
    """

    sdr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray


def _gram_and_correlations(ref: np.ndarray, est: np.ndarray, flen: int) -> tuple[np.ndarray, np.ndarray]:
    """``G [S L, S L]`` of the delayed references and ``D [S L, K]`` of their correlations
    with the estimates; row/column index ``i * L + a`` is reference ``i`` delayed by ``a``."""
    n_src, n_samples = ref.shape
    # A power of two >= T + L - 1 makes the circular correlations below linear ones for every
    # lag in +-(L - 1) (mir_eval pads the same way).
    n_fft = 1 << int(np.ceil(np.log2(n_samples + flen - 1)))
    ref_f = np.fft.rfft(ref, n_fft)
    est_f = np.fft.rfft(est, n_fft)
    # corr[i, j, m] = sum_n s_i[n + m] s_j[n]  (m modulo n_fft); only i >= j is needed
    pairs = [(i, j) for i in range(n_src) for j in range(i + 1)]
    corr = np.fft.irfft(np.stack([ref_f[i] * ref_f[j].conj() for i, j in pairs]), n_fft)
    gram = np.empty((n_src * flen, n_src * flen))
    for (i, j), c in zip(pairs, corr):
        # Block (i, j)[a, b] = corr[i, j, b - a]: a Toeplitz matrix, read as a strided view of
        # the lags -(L-1)..(L-1) (cheaper than gathering L^2 entries by index).
        lags = np.concatenate([c[n_fft - flen + 1:], c[:flen]])  # lags[m + L - 1] = corr[m]
        block = np.lib.stride_tricks.sliding_window_view(lags, flen)[::-1]
        gram[i * flen:(i + 1) * flen, j * flen:(j + 1) * flen] = block
        if i != j:
            gram[j * flen:(j + 1) * flen, i * flen:(i + 1) * flen] = block.T
    # xcorr[i, k, a] = sum_n e_k[n + a] s_i[n] = <s_i delayed by a, e_k>
    xcorr = np.fft.irfft(est_f[None, :, :] * ref_f[:, None, :].conj(), n_fft)[..., :flen]
    return gram, xcorr.transpose(0, 2, 1).reshape(n_src * flen, est.shape[0])


def _energies_eigh(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``d^T G^+ d`` per column of ``rhs`` through the pseudo-inverse: for a singular ``G``
    (delayed references spanning fewer dimensions than there are delays) this is still the
    squared norm of the projection on their span."""
    w, v = np.linalg.eigh(gram)
    keep = w > w.max() * gram.shape[0] * np.finfo(np.float64).eps
    coef = v[:, keep].T @ rhs
    return np.sum(coef * coef / w[keep, None], axis=0)


def _projection_energies(gram: np.ndarray, rhs: np.ndarray, n_src: int, flen: int,
                         n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(||P_i e_k||^2 [S, K], ||P e_k||^2 [K], ||P e_k - P_0 e_k||^2 [K])`` for unit-norm rows."""
    import torch

    g, d = torch.from_numpy(gram), torch.from_numpy(rhs)
    energy_src = np.empty((n_src, rhs.shape[1]))
    # S L delayed copies live in T + L - 1 dimensions: more copies than that are dependent
    # and G is singular, whatever rounding lets a Cholesky factorisation get away with.
    full_rank = n_src * flen <= n_samples + flen - 1
    chol, info = torch.linalg.cholesky_ex(g) if full_rank else (None, 1)
    if full_rank and int(info) == 0:
        z = torch.linalg.solve_triangular(chol, d, upper=False).numpy()
        energy_all = np.sum(z * z, axis=0)
        energy_src[0] = np.sum(z[:flen] ** 2, axis=0)
        # Exact interference energy for reference 0: no cancellation in ||P e||^2 - ||P_0 e||^2.
        interf0 = np.sum(z[flen:] ** 2, axis=0)
    else:
        energy_all = _energies_eigh(gram, rhs)
        energy_src[0] = np.nan  # filled below with the other blocks
        interf0 = None
    first = 0 if interf0 is None else 1
    if first < n_src:
        idx = np.arange(first, n_src)
        blocks = torch.stack([g[i * flen:(i + 1) * flen, i * flen:(i + 1) * flen] for i in idx])
        rhs_b = torch.stack([d[i * flen:(i + 1) * flen] for i in idx])
        chol_b, info_b = torch.linalg.cholesky_ex(blocks)
        zb = torch.linalg.solve_triangular(chol_b, rhs_b, upper=False).numpy()
        energy_src[idx] = np.sum(zb * zb, axis=1)
        for n, i in enumerate(idx):  # a numerically singular single-reference block: rare
            if int(info_b[n]) != 0:
                block = slice(i * flen, (i + 1) * flen)
                energy_src[i] = _energies_eigh(gram[block, block], rhs[block])
    if interf0 is None:
        interf0 = energy_all - energy_src[0]
    return energy_src, energy_all, interf0


def bss_eval_matrices(ref: np.ndarray, est: np.ndarray, clamp_db: float | None,
                      filter_length: int = FILTER_LENGTH) -> BssMatrices:
    """SDR, SIR and SAR of every estimate against every reference of one utterance.

    Args:
        ref: ``[S, T]`` float64 references, finite, none silent (the caller checks).
        est: ``[K, T]`` float64 estimates, finite; a silent row scores ``-inf`` everywhere.
        clamp_db: clip to ``[-clamp_db, clamp_db]`` dB; None keeps ``+-inf``.
        filter_length: distortion filter taps ``L`` (mir_eval: 512).

    Returns:
        :class:`BssMatrices` (``sdr``/``sir`` ``[S, K]``, ``sar`` ``[K]``), dB.
    """
    n_src, n_samples = ref.shape
    ref_n = ref / np.linalg.norm(ref, axis=-1, keepdims=True)
    est_norm = np.linalg.norm(est, axis=-1, keepdims=True)
    est_n = est / np.where(est_norm > 0, est_norm, 1.0)
    gram, rhs = _gram_and_correlations(ref_n, est_n, filter_length)
    energy_src, energy_all, interf0 = _projection_energies(gram, rhs, n_src, filter_length, n_samples)
    # For unit-norm estimates these are squared cosines in [0, 1]; rounding can overshoot.
    coh_src = np.clip(energy_src, 0.0, 1.0)
    coh_all = np.clip(energy_all, 0.0, 1.0)
    interf = np.maximum(coh_all[None, :] - coh_src, 0.0)
    interf[0] = np.maximum(interf0, 0.0)
    silent = est_norm[:, 0] == 0
    coh_src[:, silent], coh_all[silent], interf[:, silent] = 0.0, 0.0, 0.0
    return BssMatrices(
        sdr=ratio_db(coh_src, 1.0 - coh_src, clamp_db),
        sir=ratio_db(coh_src, interf, clamp_db),
        sar=ratio_db(coh_all, 1.0 - coh_all, clamp_db),
    )
