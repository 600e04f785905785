"""Specifications of sweep.scoring.metrics: SI-SNR(i), BSS-Eval SDR(i) against mir_eval, permutations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from sweep.scoring.metrics import (
    DEFAULT_CLAMP_DB,
    best_permutation,
    bss_eval_sources,
    pairwise_si_snr,
    pit_si_snri_torch,
    score_utterance,
    si_snr,
)

FS = 8000  # Hz


def speech_like(rng: np.random.Generator, n_sources: int, n_samples: int) -> np.ndarray:
    """``[S, T]`` speech-like signals: formant-filtered noise times a syllabic envelope."""
    out = np.empty((n_sources, n_samples))
    for s in range(n_sources):
        voiced = np.zeros(n_samples)
        excitation = rng.standard_normal(n_samples)
        for f in rng.uniform([250, 900, 2000], [800, 1800, 3200]):  # three formants, Hz
            r = rng.uniform(0.95, 0.99)
            voiced += lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / FS), r * r], excitation)
        # ~4 Hz envelope with pauses: low-passed noise, half-wave rectified around its median.
        pole = np.exp(-2 * np.pi * 4.0 / FS)
        env = lfilter([(1 - pole) ** 2], [1, -2 * pole, pole**2], rng.standard_normal(n_samples))
        env = np.maximum(env - np.median(env), 0.0) + 1e-3 * np.std(env)
        sig = voiced * env
        out[s] = sig / np.sqrt(np.mean(sig**2)) * 10 ** (rng.uniform(-5, 5) / 20)
    return out


def imperfect_estimates(rng: np.random.Generator, ref: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Estimates as a separator makes them: leakage, a short filter, noise; rows permuted."""
    n_src, n_samples = ref.shape
    leak = np.eye(n_src) + rng.uniform(0.05, 0.4, (n_src, n_src)) * (1 - np.eye(n_src))
    est = leak @ ref
    for s in range(n_src):
        est[s] = lfilter(rng.standard_normal(16) * 0.1 + np.r_[1.0, np.zeros(15)], [1.0], est[s])
    est += rng.standard_normal(est.shape) * est.std(axis=-1, keepdims=True) * rng.uniform(0.05, 0.3)
    out = np.empty_like(est)
    out[perm] = est  # estimate perm[k] holds source k
    return out


def zero_mean(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=-1, keepdims=True)


# ----------------------------------------------------------------------------- SI-SNR


def test_si_snr_of_scaled_reference_is_clamped_large() -> None:
    ref = speech_like(np.random.default_rng(0), 1, FS)[0]
    assert si_snr(2.0 * ref, ref) == pytest.approx(DEFAULT_CLAMP_DB)
    assert si_snr(2.0 * ref, ref, clamp_db=None) > 200.0  # only rounding error remains


@pytest.mark.parametrize("target_db", [-7.0, 0.0, 12.5])
def test_si_snr_with_orthogonal_noise_of_known_power(target_db: float) -> None:
    rng = np.random.default_rng(1)
    ref = zero_mean(speech_like(rng, 1, FS)[0])
    noise = zero_mean(rng.standard_normal(FS))
    noise -= noise @ ref / (ref @ ref) * ref  # orthogonal to ref, still zero-mean
    scale = 0.7
    # ||scale * ref||^2 / ||noise||^2 = 10^(target/10)
    noise *= np.sqrt(scale**2 * (ref @ ref) / (noise @ noise) / 10 ** (target_db / 10))
    est = scale * ref + noise
    assert si_snr(est, ref) == pytest.approx(target_db, abs=1e-9)
    # scale-invariant in both arguments, exactly (no additive eps)
    assert si_snr(3e-4 * est, 50.0 * ref) == pytest.approx(target_db, abs=1e-9)


def test_si_snr_ignores_mean_offsets_and_accepts_float32_torch() -> None:
    rng = np.random.default_rng(2)
    ref = speech_like(rng, 2, FS)
    est = ref + 0.5 * rng.standard_normal(ref.shape)
    base = si_snr(est, ref)
    assert base.shape == (2,)
    np.testing.assert_allclose(si_snr(est + 5.0, ref - 2.0), base, atol=1e-9)
    est32 = est.astype(np.float32)
    via_torch = si_snr(torch.from_numpy(est32), torch.from_numpy(ref))
    np.testing.assert_allclose(via_torch, si_snr(est32.astype(np.float64), ref), atol=1e-12)


def test_pairwise_si_snr_entries() -> None:
    rng = np.random.default_rng(3)
    ref = speech_like(rng, 3, FS)
    est = imperfect_estimates(rng, ref, np.array([2, 0, 1]))
    mat = pairwise_si_snr(est, ref)
    assert mat.shape == (3, 3)
    for k, j in itertools.product(range(3), range(3)):
        assert mat[k, j] == pytest.approx(float(si_snr(est[j], ref[k])), abs=1e-12)


# ----------------------------------------------------------------------------- permutations


@pytest.mark.parametrize("n_src", [2, 3, 8])
def test_best_permutation_matches_brute_force(n_src: int) -> None:
    rng = np.random.default_rng(n_src)
    scores = rng.normal(size=(n_src, n_src))
    rows = np.arange(n_src)
    brute = max(itertools.permutations(range(n_src)), key=lambda p: scores[rows, list(p)].sum())
    np.testing.assert_array_equal(best_permutation(scores), brute)
    brute_min = min(itertools.permutations(range(n_src)), key=lambda p: scores[rows, list(p)].sum())
    np.testing.assert_array_equal(best_permutation(scores, maximize=False), brute_min)


def test_best_permutation_handles_infinite_scores() -> None:
    # Unclamped dB can be +inf for a perfect estimate; that pairing must win.
    np.testing.assert_array_equal(best_permutation(np.array([[np.inf, 0.0], [3.0, 1.0]])), [0, 1])
    np.testing.assert_array_equal(best_permutation(np.array([[-np.inf, 0.0], [3.0, 1.0]])), [1, 0])
    with pytest.raises(ValueError, match="NaN"):
        best_permutation(np.array([[np.nan, 0.0], [3.0, 1.0]]))


@pytest.mark.parametrize("n_src", [2, 3])
def test_scores_are_permutation_invariant_and_find_the_permutation(n_src: int) -> None:
    rng = np.random.default_rng(10 + n_src)
    ref = speech_like(rng, n_src, FS)
    true_perm = np.roll(np.arange(n_src), 1)  # no stream in place: "default" must differ
    est = imperfect_estimates(rng, ref, true_perm)
    mix = ref.sum(axis=0)
    scores = score_utterance(est, ref, mix)
    assert scores.si_snr_perm == tuple(true_perm)
    assert scores.sdr_perm == tuple(true_perm)
    shuffle = rng.permutation(n_src)
    while n_src > 1 and np.array_equal(shuffle, np.arange(n_src)):
        shuffle = rng.permutation(n_src)
    shuffled = score_utterance(est[shuffle], ref, mix)
    for name in ("si_snr", "si_snri", "sdr", "sdri"):
        assert getattr(shuffled, name) == pytest.approx(getattr(scores, name), abs=1e-9)
    # the default assignment takes streams as emitted and so is worse on a misordered output
    default = score_utterance(est, ref, mix, assignment="default")
    assert default.si_snr_perm == tuple(range(n_src)) and default.sdr_perm == tuple(range(n_src))
    assert default.si_snri < scores.si_snri - 1.0 and default.sdri < scores.sdri - 1.0


# ----------------------------------------------------------------------------- SDR vs mir_eval


@pytest.mark.filterwarnings("ignore::FutureWarning")  # mir_eval 0.8 deprecates bss_eval_sources
@pytest.mark.parametrize("n_src,seed", [(2, 0), (2, 1), (2, 2), (3, 3)])
def test_sdr_matches_mir_eval(n_src: int, seed: int) -> None:
    mir_sep = pytest.importorskip("mir_eval.separation")
    rng = np.random.default_rng(100 + seed)
    ref = speech_like(rng, n_src, FS)
    est = imperfect_estimates(rng, ref, rng.permutation(n_src))
    mix = ref.sum(axis=0)

    m_sdr, _, _, m_perm = mir_sep.bss_eval_sources(ref, est, compute_permutation=True)
    got = bss_eval_sources(est, ref)
    sdr, perm = got.sdr, got.perm
    np.testing.assert_array_equal(perm, m_perm)
    np.testing.assert_allclose(sdr, m_sdr, atol=1e-6, rtol=0)

    m_sdr_default = mir_sep.bss_eval_sources(ref, est, compute_permutation=False)[0]
    sdr_default = bss_eval_sources(est, ref, assignment="default").sdr
    np.testing.assert_allclose(sdr_default, m_sdr_default, atol=1e-6, rtol=0)

    mix_as_est = np.repeat(mix[None], n_src, 0)
    m_base = mir_sep.bss_eval_sources(ref, mix_as_est, compute_permutation=False)[0]
    scores = score_utterance(est, ref, mix)
    assert scores.sdr_perm == tuple(m_perm)
    assert scores.sdr == pytest.approx(float(np.mean(m_sdr)), abs=1e-6)
    assert scores.sdri == pytest.approx(float(np.mean(m_sdr) - np.mean(m_base)), abs=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_sdr_assignment_maximises_sir_not_sdr_like_mir_eval() -> None:
    mir_sep = pytest.importorskip("mir_eval.separation")
    rng = np.random.default_rng(30)
    ref = speech_like(rng, 2, FS)
    r0, r1 = ref / np.linalg.norm(ref, axis=-1, keepdims=True)
    noise = rng.standard_normal(FS)
    # est0: ref0 drowned in noise (good SIR, poor SAR); est1: ref0 with some ref1 and no noise.
    # Max mean SIR pairs est0 with ref0; max mean SDR would pair est1 with ref0.
    est = np.stack([r0 + noise / np.linalg.norm(noise), r0 + 0.3 * r1])
    as_is = mir_sep.bss_eval_sources(ref, est, compute_permutation=False)[0]
    swapped = mir_sep.bss_eval_sources(ref, est[::-1], compute_permutation=False)[0]
    assert swapped.sum() > as_is.sum() + 3.0  # the SDR-maximising assignment is the swap
    m_sdr, _, _, m_perm = mir_sep.bss_eval_sources(ref, est, compute_permutation=True)
    np.testing.assert_array_equal(m_perm, [0, 1])
    got = bss_eval_sources(est, ref)
    sdr, perm = got.sdr, got.perm
    np.testing.assert_array_equal(perm, m_perm)
    np.testing.assert_allclose(sdr, m_sdr, atol=1e-6, rtol=0)
    assert score_utterance(est, ref, ref.sum(axis=0)).sdr_perm == (0, 1)


def test_sdr_of_quiet_signals_is_unbiased() -> None:
    # Rows are normalised before the Gram matrix is formed, so quiet inputs lose no precision.
    rng = np.random.default_rng(5)
    ref = speech_like(rng, 2, FS)
    est = imperfect_estimates(rng, ref, np.array([1, 0]))
    loud = bss_eval_sources(est, ref).sdr
    quiet = bss_eval_sources(1e-8 * est, 1e-8 * ref).sdr
    np.testing.assert_allclose(quiet, loud, atol=1e-9)


# ----------------------------------------------------------------------------- improvements


def test_improvements_of_mixture_are_zero_and_of_perfect_estimate_large() -> None:
    rng = np.random.default_rng(6)
    ref = speech_like(rng, 2, FS)
    mix = ref.sum(axis=0)
    as_is = score_utterance(np.stack([mix, mix]), ref, mix)
    assert as_is.si_snri == pytest.approx(0.0, abs=1e-9)
    assert as_is.sdri == pytest.approx(0.0, abs=1e-9)
    perfect = score_utterance(ref[::-1].copy(), ref, mix)
    assert perfect.si_snr == pytest.approx(DEFAULT_CLAMP_DB)
    assert perfect.si_snri > 50.0 and perfect.sdri > 50.0
    assert perfect.si_snr_perm == (1, 0) and perfect.sdr_perm == (1, 0)


def test_silent_estimate_scores_the_floor_and_silent_reference_raises() -> None:
    rng = np.random.default_rng(7)
    ref = speech_like(rng, 2, FS)
    est = imperfect_estimates(rng, ref, np.array([0, 1]))
    est[1] = 0.0
    got = bss_eval_sources(est, ref)
    sdr, perm = got.sdr, got.perm
    assert sdr[perm == 1][0] == -DEFAULT_CLAMP_DB
    assert float(si_snr(est[1], ref[1])) == -DEFAULT_CLAMP_DB
    ref[0] = 0.0
    with pytest.raises(ValueError, match="silent"):
        score_utterance(est + 0.1, ref, ref.sum(axis=0))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_estimate_raises(bad: float) -> None:
    rng = np.random.default_rng(8)
    ref = speech_like(rng, 2, FS)
    est = ref.copy()
    est[1, 100] = bad
    with pytest.raises(ValueError, match="estimate contains NaN or inf"):
        score_utterance(est, ref, ref.sum(axis=0))
    with pytest.raises(ValueError, match="estimate contains NaN or inf"):
        pit_si_snri_torch(*(torch.from_numpy(x)[None] for x in (est, ref, ref.sum(axis=0))))


def test_shape_mismatch_raises() -> None:
    ref = speech_like(np.random.default_rng(9), 2, FS)
    with pytest.raises(ValueError, match="shape"):
        score_utterance(ref[:, :-1], ref, ref.sum(axis=0))
    with pytest.raises(ValueError, match="shape"):
        score_utterance(ref[:1], ref, ref.sum(axis=0))
    with pytest.raises(ValueError, match="mixture"):
        score_utterance(ref, ref, ref.sum(axis=0)[:-1])


# ----------------------------------------------------------------------------- torch helper


@pytest.mark.parametrize("n_src", [2, 3])
def test_pit_si_snri_torch_agrees_with_score_utterance(n_src: int) -> None:
    rng = np.random.default_rng(20 + n_src)
    refs, ests = [], []
    for _ in range(4):
        ref = speech_like(rng, n_src, FS)
        refs.append(ref)
        ests.append(imperfect_estimates(rng, ref, rng.permutation(n_src)))
    ref_b, est_b = np.stack(refs), np.stack(ests).astype(np.float32)  # model outputs are float32
    mix_b = ref_b.sum(axis=1)
    got = pit_si_snri_torch(*(torch.from_numpy(x) for x in (est_b, ref_b, mix_b)))
    assert got.dtype == torch.float64 and got.shape == (4,)
    want = [score_utterance(e, r, m).si_snri for e, r, m in zip(est_b, ref_b, mix_b)]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6, rtol=0)


def test_scoring_several_estimates_together_equals_scoring_each_alone():
    from sweep.scoring.metrics import score_utterance, score_utterances

    rng = np.random.default_rng(7)
    ref = rng.standard_normal((2, 4000))
    mix = ref.sum(0)
    a = ref[::-1] + 0.3 * rng.standard_normal((2, 4000))
    b = ref + 0.1 * rng.standard_normal((2, 4000))
    together = score_utterances([a, b], ref, mix)
    for est, got in zip([a, b], together):
        alone = score_utterance(est, ref, mix)
        assert got.si_snri == pytest.approx(alone.si_snri, abs=1e-9)
        assert got.sdri == pytest.approx(alone.sdri, abs=1e-9)
        assert got.sdr_perm == alone.sdr_perm and got.si_snr_perm == alone.si_snr_perm
    assert together[0].si_snr_perm == (1, 0)


# ----------------------------------------------------------------------------- SIR / SAR, edge cases


def _mir(ref: np.ndarray, est: np.ndarray, compute_permutation: bool = True):
    """mir_eval's (sdr, sir, sar, perm), values clipped to our clamp (beyond it: rounding noise)."""
    mir_sep = pytest.importorskip("mir_eval.separation")
    sdr, sir, sar, perm = mir_sep.bss_eval_sources(ref, est, compute_permutation=compute_permutation)
    clip = lambda x: np.clip(x, -DEFAULT_CLAMP_DB, DEFAULT_CLAMP_DB)  # noqa: E731
    return clip(sdr), clip(sir), clip(sar), perm


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("n_src,n_samples", [(1, FS), (2, FS), (3, FS // 2), (4, FS // 2)])
def test_sdr_sir_sar_and_permutation_match_mir_eval(n_src: int, n_samples: int) -> None:
    rng = np.random.default_rng(200 + n_src)
    ref = speech_like(rng, n_src, n_samples)
    est = imperfect_estimates(rng, ref, rng.permutation(n_src))
    for compute_permutation, assignment in ((True, "optimal"), (False, "default")):
        m_sdr, m_sir, m_sar, m_perm = _mir(ref, est, compute_permutation)
        got = bss_eval_sources(est, ref, assignment=assignment)
        np.testing.assert_array_equal(got.perm, m_perm)
        for mine, theirs in ((got.sdr, m_sdr), (got.sir, m_sir), (got.sar, m_sar)):
            np.testing.assert_allclose(mine, theirs, atol=1e-6, rtol=0)
    scores = score_utterance(est, ref, ref.sum(axis=0))
    m_sdr, m_sir, m_sar, _ = _mir(ref, est)
    assert scores.sir == pytest.approx(float(np.mean(m_sir)), abs=1e-6)
    assert scores.sar == pytest.approx(float(np.mean(m_sar)), abs=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_estimate_equal_to_reference_scores_the_clamp_like_mir_eval() -> None:
    ref = speech_like(np.random.default_rng(40), 2, FS)
    est = 3.0 * ref[::-1]  # perfect up to gain and order
    m_sdr, m_sir, m_sar, m_perm = _mir(ref, est)
    got = bss_eval_sources(est, ref)
    np.testing.assert_array_equal(got.perm, m_perm)
    np.testing.assert_array_equal(got.perm, [1, 0])
    for mine, theirs in ((got.sdr, m_sdr), (got.sir, m_sir), (got.sar, m_sar)):
        np.testing.assert_allclose(mine, DEFAULT_CLAMP_DB)
        np.testing.assert_allclose(theirs, DEFAULT_CLAMP_DB)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("n_src,n_samples", [(1, 300), (2, 300), (2, 40)])
def test_signals_shorter_than_the_filter_match_mir_eval(n_src: int, n_samples: int) -> None:
    rng = np.random.default_rng(50 + n_samples)
    ref = rng.standard_normal((n_src, n_samples))
    est = ref[::-1] + 0.3 * rng.standard_normal(ref.shape)
    m_sdr, m_sir, m_sar, m_perm = _mir(ref, est)
    got = bss_eval_sources(est, ref)
    np.testing.assert_array_equal(got.perm, m_perm)
    for mine, theirs in ((got.sdr, m_sdr), (got.sir, m_sir), (got.sar, m_sar)):
        np.testing.assert_allclose(mine, theirs, atol=1e-6, rtol=0)
    if n_src == 2:  # 1024 delayed references span all T + 511 dimensions: nothing is artefact
        np.testing.assert_allclose(got.sar, DEFAULT_CLAMP_DB)
        np.testing.assert_allclose(got.sir, got.sdr, atol=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_silent_reference_raises_like_mir_eval_and_nan_estimate_raises() -> None:
    mir_sep = pytest.importorskip("mir_eval.separation")
    rng = np.random.default_rng(60)
    ref = speech_like(rng, 2, FS)
    est = ref + 0.1 * rng.standard_normal(ref.shape)
    silent = ref.copy()
    silent[1] = 0.0
    with pytest.raises(ValueError):
        mir_sep.bss_eval_sources(silent, est)
    with pytest.raises(ValueError, match="silent"):
        bss_eval_sources(est, silent)
    est[0, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        bss_eval_sources(est, ref)


def test_five_sources_use_the_assignment_solver_and_find_the_permutation() -> None:
    from sweep.scoring.bss_eval import bss_eval_matrices
    rng = np.random.default_rng(70)
    ref = speech_like(rng, 5, FS // 2)
    true_perm = np.array([3, 0, 4, 1, 2])
    est = imperfect_estimates(rng, ref, true_perm)
    got = bss_eval_sources(est, ref)
    np.testing.assert_array_equal(got.perm, true_perm)
    scores = score_utterance(est, ref, ref.sum(axis=0))
    assert scores.si_snr_perm == tuple(true_perm) and scores.sdr_perm == tuple(true_perm)
    # The solver's choice is the brute-force maximiser of the mean SIR (mir_eval's rule).
    sir = bss_eval_matrices(ref, est, None).sir
    brute = max(itertools.permutations(range(5)), key=lambda p: sir[np.arange(5), list(p)].sum())
    np.testing.assert_array_equal(got.perm, brute)
