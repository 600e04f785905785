"""Parts (b) and (c) of ``benchmarks/gpu_suite.sh`` (part (a) is ``benchmarks/train_throughput.py``).

    python benchmarks/gpu_suite.py packing --data ROOT --work DIR [--counts 1 2 4 8] [--dry-run]
    python benchmarks/gpu_suite.py scoring --data ROOT [--utterances 20] [--dry-run]

**packing**: for each ``k`` of ``--counts``, a study of ``k`` replicates of one small Conv-TasNet
trial (the ``cpu`` preset's sizes), run through the real harness (``python -m sweep launch``:
Ray, Tune, Optuna, the store) with ``max_concurrent: k`` and ``resources.gpu: 1/k``, so that the
``k`` trials share one GPU. Throughput is ``k`` trials over the time from the first trial's start
to the last one's end (the rows' ``started_at`` and ``finished_at``; Ray's start is not in it);
the line for each ``k`` gives it in trials per minute and as a multiple of ``k = 1``.

**scoring**: the test-set scoring of :func:`sweep.scoring.evaluate.evaluate` (the model's
forward pass on the device, BSS-Eval and SI-SNR on the CPU in float64) timed per mixture on the
GPU and on the CPU, with a Conv-TasNet at the ``paper`` preset (untrained: the time does not depend
on the weights), plus the forward pass alone on each.

``ROOT`` is a wsj0-2mix style folder (``tr``, ``cv``, ``tt``, ``tt_closed``), carried to the GPU
machine (it cannot synthesise the embedded corpus: no espeak-ng there). ``--dry-run`` runs the same
code on the CPU at tiny sizes (no GPU share, ``cpu`` preset on both "devices"): the plumbing only.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

CONVTASNET_CPU = ("N: 64, L: 16, B: 32, H: 64, P: 3, X: 5, R: 2, Sc: 32, "
                  "norm: gLN, causal: false, activation: sigmoid")


def packing_spec(k: int, data: Path, epochs: int, utterances: int, gpu: bool) -> str:
    """``k`` replicates of one small Conv-TasNet trial, ``k`` at a time, ``1/k`` GPU each."""
    share = f"{1 / k:.6g}" if gpu else "0"
    return "\n".join([
        f"study: pack{k}", "family: convtasnet", "seed: 0", f"dataset: {{kind: wsj0mix, root: {data}}}",
        "params: {" + CONVTASNET_CPU + "}",
        "train:", f"  epochs: {epochs}", "  segment_s: 2.0", "  batch_size: 8", "  lr: 0.001",
        f"  max_eval_utterances: {utterances}", "  num_threads: 1",
        "sampler: random", "scheduler: none", f"n_trials: {k}", f"max_concurrent: {k}",
        f"resources: {{cpu: 1, gpu: {share}}}",
    ]) + "\n"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def trial_span(db: Path) -> tuple[int, float, float]:
    """(finished trials, seconds from the first start to the last end, mean trial wall seconds)."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT started_at, finished_at, wall_s FROM sweep_trial WHERE status = 'complete'").fetchall()
    if not rows:
        return 0, float("nan"), float("nan")
    span = (max(_when(r[1]) for r in rows) - min(_when(r[0]) for r in rows)).total_seconds()
    return len(rows), span, sum(r[2] or 0.0 for r in rows) / len(rows)


def packing(data: Path, work: Path, counts: list[int], epochs: int, utterances: int, gpu: bool, out=sys.stdout) -> dict:
    """Run one study per ``k``; print a line each; returns ``{k: trials per minute}``."""
    env = dict(os.environ, SWEEP_RUNS=str(work / "ray"), SWEEP_DATA=str(work / "data"))
    rates: dict[int, float] = {}
    for k in counts:
        spec, db = work / f"pack{k}.yaml", work / f"pack{k}.db"
        spec.write_text(packing_spec(k, data, epochs, utterances, gpu))
        db.unlink(missing_ok=True)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "sweep", "launch", str(spec), "--storage", f"sqlite:///{db}"],
                              cwd=work, env=env, capture_output=True, text=True, timeout=900)
        wall = time.monotonic() - t0
        if done.returncode != 0:
            raise RuntimeError(f"packing k={k}: sweep launch exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        n, span, mean = trial_span(db)
        rates[k] = 60 * n / span
        print(f"packing k={k}: {n} trials in {span:.1f} s ({rates[k]:.2f} trials/min, "
              f"{rates[k] / rates[counts[0]]:.2f}x of k={counts[0]}; each {mean:.1f} s; launch {wall:.0f} s)",
              file=out, flush=True)
    return rates


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def time_scoring(model, data: Path, device, utterances: int) -> tuple[float, float]:
    """(seconds per mixture of ``evaluate``, seconds per mixture of the forward pass alone)."""
    import torch

    from sweep.data.wsj0mix import Wsj0MixDataset, test_conditions
    from sweep.scoring.evaluate import evaluate

    model = model.to(device).eval()
    conditions = test_conditions(data)
    evaluate(model, conditions, 2, 8000, device, 1)  # warm-up: CUDA context, kernels, caches
    _sync(device)
    t0 = time.perf_counter()
    rows = evaluate(model, conditions, 2, 8000, device, utterances)
    _sync(device)
    n = sum(r["n_utterances"] for r in rows if r["assignment"] == "default")
    per_mixture = (time.perf_counter() - t0) / n
    forward = 0.0
    with torch.no_grad():
        for folder in conditions.values():
            ds = Wsj0MixDataset(folder, n_src=2, segment=None, sample_rate=8000)
            for i in range(min(len(ds), utterances)):
                mix = ds[i][0][None].to(device)
                _sync(device)
                t1 = time.perf_counter()
                model(mix)
                _sync(device)
                forward += time.perf_counter() - t1
    return per_mixture, forward / n


def scoring(data: Path, utterances: int, dry_run: bool, out=sys.stdout) -> dict[str, float]:
    """Scoring time per mixture on the GPU (the CPU again in a dry run) and on the CPU."""
    import torch

    from sweep import models

    preset = "cpu" if dry_run else "paper"
    torch.manual_seed(0)
    model = models.build("convtasnet", models.get_family("convtasnet").presets[preset], n_src=2, sample_rate=8000)
    first = torch.device("cpu" if dry_run else "cuda")
    figures = {}
    for label, device in ((f"{first.type} (as the GPU)" if dry_run else "cuda", first), ("cpu", torch.device("cpu"))):
        per, fwd = time_scoring(model, data, device, utterances)
        figures[label] = per
        print(f"scoring on {label}: {1000 * per:.0f} ms per mixture (forward pass {1000 * fwd:.0f} ms), "
              f"Conv-TasNet {preset} preset, {torch.get_num_threads()} CPU threads", file=out, flush=True)
    gpu, cpu = figures.values()
    print(f"scoring speedup gpu/cpu: {cpu / gpu:.2f}x", file=out, flush=True)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    p = sub.add_parser("packing")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--utterances", type=int, default=4, help="test utterances per condition")
    p.add_argument("--dry-run", action="store_true")
    s = sub.add_parser("scoring")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--utterances", type=int, default=20, help="per test condition")
    s.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    if args.part == "packing":
        args.work.mkdir(parents=True, exist_ok=True)
        packing(args.data.resolve(), args.work.resolve(), args.counts, args.epochs, args.utterances, not args.dry_run)
    else:
        scoring(args.data.resolve(), args.utterances, args.dry_run)


if __name__ == "__main__":
    main()
