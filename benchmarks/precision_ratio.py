"""fp32 against bf16 autocast on this CPU, side by side, on the main job's trial.

Runs the main job's uPIT trial (``search_spaces/upit.yaml``, one grid point) for one epoch with
``train.precision`` fp32 and bf16, alternating (fp32 first in odd pairs, bf16 first in even ones),
each run in a fresh process (one torch thread, as a trial gets), and reads the trial's own ``train_s`` (training plus validation, seconds). The
training set is capped (``--mixtures``) so a pair takes about a minute. Prints each run, the
medians and, last, ``bf16_speedup=<fp32 train_s / bf16 train_s>``.

    .venv/bin/python benchmarks/precision_ratio.py --reps 2
    .venv/bin/python benchmarks/precision_ratio.py --reps 1 --mixtures 64   # the plumbing only

The corpus must exist (``sweep data make`` or one main job). Whether the CPU runs bf16 natively
(AVX512-BF16 / AMX) is printed first: elsewhere we expect the ratio to fall below 1 (unmeasured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "search_spaces" / "upit.yaml"
POINT = {"mask_type": "PSM", "activation": "relu"}  # the main job's trial of release_ratio.py


def one_run(precision: str, mixtures: int) -> None:
    """In this process: the trial at ``precision``; prints one JSON line."""
    import torch

    from sweep.data.cache import data_root_for
    from sweep.spec import load_spec
    from sweep.worker.trial import run_plan

    spec = load_spec(SPEC)
    params = {**POINT, "train.precision": precision, "train.epochs": 1, "train.max_train_mixtures": mixtures}
    plan = spec.resolve_trial(params, str(data_root_for(spec, None)))
    reports: list[dict] = []
    run_plan(plan, reports.append)
    final = reports[-1]
    print(json.dumps({"precision": precision, "train_s": final["train_s"], "threads": torch.get_num_threads(),
                      "valid_si_snri": final["valid_si_snri"]}))


def spawn(precision: str, mixtures: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--one", precision, "--mixtures", str(mixtures)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{precision} run exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=2, help="pairs of runs (fp32 and bf16), alternating")
    ap.add_argument("--mixtures", type=int, default=480, help="training mixtures in the epoch (batches of 16)")
    ap.add_argument("--one", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one_run(args.one, args.mixtures)
        return
    from sweep.worker.precision import cpu_has_native_bf16

    print(f"cpu native bf16: {'yes' if cpu_has_native_bf16() else 'no'}; {args.mixtures} training mixtures, "
          f"1 epoch, {POINT}", flush=True)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(1, args.reps + 1):
        for precision in (("fp32", "bf16") if i % 2 else ("bf16", "fp32")):  # neither always reads a cold cache
            r = spawn(precision, args.mixtures)
            times[precision].append(r["train_s"])
            print(f"run {i} {precision}: train_s {r['train_s']:.1f} s (valid SI-SNRi {r['valid_si_snri']:.2f} dB, "
                  f"{r['threads']} thread)", flush=True)
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    print(f"median of {args.reps}: fp32 {fp32:.1f} s, bf16 {bf16:.1f} s")
    print(f"bf16_speedup={fp32 / bf16:.3f}")


if __name__ == "__main__":
    main()
