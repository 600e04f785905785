"""What checkpointing costs a trial: the same trial with and without a checkpoint every epoch,
side by side in one run (alternating, so a shared machine's drift hits both alike).

    .venv/bin/python benchmarks/checkpoint_overhead.py                 # the main job's trial (upit.yaml)
    .venv/bin/python benchmarks/checkpoint_overhead.py --epochs 1 --reps 1 --spec search_spaces/upit.yaml

"With" is what a trial does under ``sweep launch``: write the checkpoint folder (latest state +
best-validation weights + card) after every epoch, and copy it to the run folder as Tune's
report does for local storage. Prints each run's seconds, then a last line
``checkpoint_overhead_fraction=<x> checkpoint_mb=<y>`` (target: x <= 0.02).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweep.data.cache import check_data, data_root_for  # noqa: E402
from sweep.spec import load_spec  # noqa: E402
from sweep import checkpoints  # noqa: E402
from sweep.worker.trial import run_plan  # noqa: E402


WRITING = [0.0]  # seconds spent writing and copying checkpoints in the current run


def _timed_write(write):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            WRITING[0] += time.perf_counter() - t0
    return wrapper


class CopyingReport:
    """Keeps the latest checkpoint copied under ``root``, as Tune persists it (num_to_keep=1)."""

    def __init__(self, root: Path) -> None:
        self.root, self.n, self.bytes = root, 0, 0

    def __call__(self, metrics: dict, folder: Path | None = None) -> None:
        if folder is None:
            return
        t0 = time.perf_counter()
        target = self.root / f"checkpoint_{self.n:06d}"
        shutil.copytree(folder, target)
        if self.n:
            shutil.rmtree(self.root / f"checkpoint_{self.n - 1:06d}")
        self.bytes = sum(p.stat().st_size for p in target.iterdir())
        self.n += 1
        WRITING[0] += time.perf_counter() - t0


def timed(plan, checkpointing: bool) -> tuple[float, int, float]:
    """(trial seconds, checkpoint bytes, seconds of those spent writing and copying checkpoints)."""
    WRITING[0] = 0.0
    with tempfile.TemporaryDirectory(prefix="ckpt-bench-") as tmp:
        report = CopyingReport(Path(tmp))
        t0 = time.perf_counter()
        run_plan(plan, report, checkpointing=checkpointing)
        return time.perf_counter() - t0, report.bytes, WRITING[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="search_spaces/upit.yaml")
    ap.add_argument("--budget", default=None)
    ap.add_argument("--epochs", type=int, default=None, help="override the spec's epochs")
    ap.add_argument("--reps", type=int, default=2, help="runs of each kind, alternating")
    args = ap.parse_args()
    checkpoints.write = _timed_write(checkpoints.write)  # the worker calls it as checkpoints.write
    spec = load_spec(args.spec, args.budget)
    root = data_root_for(spec, sys.stderr, check_data(spec))
    first = {k: v[0] for k, v in spec.grid().items()} if spec.sampler == "grid" else {}
    plan = spec.resolve_trial(first, str(root))
    if args.epochs:
        plan = dataclasses.replace(plan, train=dataclasses.replace(plan.train, epochs=args.epochs))
    print(f"trial: {plan.family} {plan.label()}, {plan.train.epochs} epoch(s), {args.reps} run(s) each", flush=True)
    without, with_, spent, size = [], [], [], 0
    for rep in range(args.reps):
        for checkpointing in (False, True):
            seconds, nbytes, writing = timed(plan, checkpointing)
            (with_ if checkpointing else without).append(seconds)
            if checkpointing:
                spent.append(writing / seconds)
            size = max(size, nbytes)
            print(f"run {rep + 1} {'with' if checkpointing else 'without'} checkpoints: {seconds:.1f} s"
                  + (f" ({writing:.2f} s writing and copying them)" if checkpointing else ""), flush=True)
    a, b = statistics.median(without), statistics.median(with_)
    print(f"median without {a:.2f} s, with {b:.2f} s: A/B difference {(b - a) / a:+.4f} of the trial (noise included)")
    # The direct measure: the time inside checkpoint writes and copies, as a fraction of the trial.
    print(f"checkpoint_overhead_fraction={statistics.median(spent):.4f} ab_fraction={(b - a) / a:.4f} "
          f"checkpoint_mb={size / 2**20:.2f}")


if __name__ == "__main__":
    main()
