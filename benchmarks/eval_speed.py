"""Speed and agreement of our evaluation path against mir_eval's ``bss_eval_sources``.

Scores N speech-like test mixtures (default 300 x 2 sources x 3 s at 8 kHz) twice:

* ours:     ``sweep.scoring.pool.score_many`` -> SI-SNR(i), SDR(i), SIR, SAR and both permutations,
            over a pool of ``--workers`` single-threaded processes (default: every core); the
            timed region includes starting the pool;
* mir_eval: ``bss_eval_sources(ref, est)`` plus the mixture baseline
            ``bss_eval_sources(ref, [mix] * S, compute_permutation=False)``, in this process,
            with BLAS limited to one thread unless OPENBLAS_NUM_THREADS is set (on a shared
            machine two BLAS threads per solve measured slower, not faster).

Prints both wall times, the largest |difference| over every per-source SDR, SIR and SAR and
the utterance SDRi (mir_eval's values clipped to our +-100 dB clamp: beyond it both are
rounding noise), the permutation mismatches, and as its last line
``speedup=<x> max_diff_db=<y>``.

    .venv/bin/python benchmarks/eval_speed.py            # the issue's 300 mixtures
    .venv/bin/python benchmarks/eval_speed.py --n 20     # a quick look
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported: it fixes the BLAS thread count

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from sweep.scoring.metrics import DEFAULT_CLAMP_DB  # noqa: E402
from sweep.scoring.pool import score_many  # noqa: E402


def speech_like(rng: np.random.Generator, n_sources: int, n_samples: int, fs: int) -> np.ndarray:
    """``[S, T]`` formant-filtered noise with a ~4 Hz envelope and pauses (same as the tests)."""
    out = np.empty((n_sources, n_samples))
    for s in range(n_sources):
        voiced = np.zeros(n_samples)
        excitation = rng.standard_normal(n_samples)
        for f in rng.uniform([250, 900, 2000], [800, 1800, 3200]):  # formants, Hz
            r = rng.uniform(0.95, 0.99)
            voiced += lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / fs), r * r], excitation)
        pole = np.exp(-2 * np.pi * 4.0 / fs)
        env = lfilter([(1 - pole) ** 2], [1, -2 * pole, pole**2], rng.standard_normal(n_samples))
        env = np.maximum(env - np.median(env), 0.0) + 1e-3 * np.std(env)
        sig = voiced * env
        out[s] = sig / np.sqrt(np.mean(sig**2)) * 10 ** (rng.uniform(-5, 5) / 20)
    return out


def make_case(
    rng: np.random.Generator, n_sources: int, n_samples: int, fs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One utterance: refs, float32-rounded estimates (leaky, filtered, noisy, permuted), mix."""
    ref = speech_like(rng, n_sources, n_samples, fs)
    off_diagonal = 1 - np.eye(n_sources)
    leak = np.eye(n_sources) + rng.uniform(0.05, 0.4, (n_sources, n_sources)) * off_diagonal
    est = leak @ ref
    for s in range(n_sources):
        est[s] = lfilter(rng.standard_normal(16) * 0.1 + np.r_[1.0, np.zeros(15)], [1.0], est[s])
    est += rng.standard_normal(est.shape) * est.std(axis=-1, keepdims=True) * rng.uniform(0.05, 0.3)
    est = est[rng.permutation(n_sources)]
    # Models emit float32; round here so both paths see the identical float64 values.
    return ref, est.astype(np.float32).astype(np.float64), ref.sum(axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="number of mixtures")
    parser.add_argument("--sources", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fs", type=int, default=8000, help="sample rate, Hz")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for ours")
    args = parser.parse_args(argv)

    from mir_eval.separation import bss_eval_sources

    rng = np.random.default_rng(args.seed)
    n_samples = int(round(args.seconds * args.fs))
    cases = [make_case(rng, args.sources, n_samples, args.fs) for _ in range(args.n)]
    print(f"{args.n} mixtures x {args.sources} sources x {n_samples} samples ({args.seconds:g} s at "
          f"{args.fs} Hz); {os.cpu_count()} CPUs; ours on {args.workers} worker process(es), "
          f"mir_eval in 1 process with OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")

    t0 = time.perf_counter()
    ours = [u[0] for u in score_many([([est], ref, mix) for ref, est, mix in cases], workers=args.workers)]
    t_ours = time.perf_counter() - t0

    mir = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mir_eval 0.8 deprecates bss_eval_sources
        for ref, est, mix in cases:
            sdr, sir, sar, perm = bss_eval_sources(ref, est, compute_permutation=True)
            mix_as_est = np.repeat(mix[None], len(ref), 0)
            base = bss_eval_sources(ref, mix_as_est, compute_permutation=False)[0]
            mir.append((sdr, sir, sar, float(np.mean(sdr) - np.mean(base)), tuple(perm)))
    t_mir = time.perf_counter() - t0

    def clip(x: np.ndarray) -> np.ndarray:
        return np.clip(x, -DEFAULT_CLAMP_DB, DEFAULT_CLAMP_DB)

    diff = 0.0
    for o, (sdr, sir, sar, sdri, _) in zip(ours, mir):
        for mine, theirs in ((o.sdr_sources, sdr), (o.sir_sources, sir), (o.sar_sources, sar)):
            diff = max(diff, float(np.max(np.abs(np.asarray(mine) - clip(theirs)))))
        diff = max(diff, abs(o.sdri - sdri))
    perm_mismatch = sum(o.sdr_perm != m[4] for o, m in zip(ours, mir))
    for name, t in (("ours (SI-SNR(i), SDR(i), SIR, SAR)", t_ours), ("mir_eval (SDR(i), SIR, SAR)", t_mir)):
        print(f"{name:<36}: {t:8.3f} s  {1e3 * t / args.n:8.2f} ms/mixture")
    mean_sdri, mean_si_snri = np.mean([o.sdri for o in ours]), np.mean([o.si_snri for o in ours])
    print(f"mean SDRi {mean_sdri:.2f} dB, mean SI-SNRi {mean_si_snri:.2f} dB; "
          f"SDR permutation mismatches: {perm_mismatch}")
    print(f"largest |ours - mir_eval| over per-source SDR, SIR, SAR and utterance SDRi: {diff:.3e} dB")
    print(f"speedup={t_mir / t_ours:.2f} max_diff_db={diff:.3e}")


if __name__ == "__main__":
    main()
