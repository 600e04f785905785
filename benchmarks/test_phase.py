"""The test phase of a main-job trial with one pass of the network per utterance, against two.

Scores the main job's uPIT model (``search_spaces/upit.yaml``'s sizes and first grid point, AM /
softmax, untrained, seed 0: the cost does not depend on the weights) on its test conditions
(``max_eval_utterances`` of each) with :func:`sweep.scoring.evaluate.evaluate`, alternating in this process:

* **two passes**: the base class's :meth:`~sweep.models.Separator.assignments` (``forward``, then
  ``oracle_assignment``, which runs the network again), as before release 0.4.2;
* **one pass**: uPIT's own ``assignments`` (both assignments invert the same masks).

One thread, as a trial has. Prints each run, whether both paths gave the same scores to the last
bit, and as its last line ``shared_pass_speedup=<x>`` (median two-pass time / median one-pass time).

    .venv/bin/python benchmarks/test_phase.py --reps 2   # builds the main job's corpus if missing
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from sweep.data.cache import data_root_for  # noqa: E402
from sweep.data.wsj0mix import test_conditions  # noqa: E402
from sweep import models  # noqa: E402
from sweep.models import Separator  # noqa: E402
from sweep.scoring.evaluate import evaluate  # noqa: E402
from sweep.spec import Spec, load_spec  # noqa: E402


def run(path: str, model: Separator, conditions: dict[str, Path], spec: Spec,
        utterances: int) -> tuple[float, dict[str, float], int]:
    """Seconds of one evaluate(), its mean SI-SNRi per condition/assignment, and how many times
    the network ran (calls of ``model.masks``)."""
    if path == "two passes":
        model.assignments = functools.partial(Separator.assignments, model)
    else:
        model.__dict__.pop("assignments", None)  # the family's own method again
    passes = [0]
    network = type(model).masks

    def counted(*args, **kwargs):
        passes[0] += 1
        return network(model, *args, **kwargs)

    model.masks = counted
    t0 = time.perf_counter()
    rows = evaluate(model, conditions, spec.n_src, spec.dataset.sample_rate, torch.device("cpu"),
                    max_utterances=utterances)
    seconds = time.perf_counter() - t0
    del model.masks
    return seconds, {f"{r['condition']}/{r['assignment']}": r["si_snri"] for r in rows}, passes[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2, help="runs of each path, alternating")
    ap.add_argument("--spec", default=str(ROOT / "search_spaces" / "upit.yaml"), help="a uPIT study spec")
    ap.add_argument("--utterances", type=int, default=None, help="per condition (default: the spec's "
                    "train.max_eval_utterances)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    spec = load_spec(args.spec)
    plan = spec.resolve_trial({k: v[0] for k, v in spec.grid().items()}, str(data_root_for(spec)))
    utterances = args.utterances or spec.train.max_eval_utterances
    torch.manual_seed(0)
    model = models.build(plan.family, plan.model_params, n_src=plan.n_src, sample_rate=plan.sample_rate).eval()
    conditions = test_conditions(plan.data_root)
    times: dict[str, list[float]] = {"two passes": [], "one pass": []}
    scores: dict[str, dict[str, float]] = {}
    passes: dict[str, int] = {}
    for i in range(1, args.reps + 1):
        for path in (("two passes", "one pass") if i % 2 else ("one pass", "two passes")):
            seconds, scores[path], passes[path] = run(path, model, conditions, spec, utterances)
            times[path].append(seconds)
            print(f"run {i} {path}: evaluate {seconds:.2f} s ({utterances} utterances per condition, "
                  f"{len(scores[path])} rows, {passes[path]} passes of the network)", flush=True)
    if passes["two passes"] != 2 * passes["one pass"]:
        raise SystemExit(f"the paths did not run as named: {passes}")
    same = scores["two passes"] == scores["one pass"]
    print(f"same scores to the last bit: {'yes' if same else 'NO'} ({scores['one pass']})")
    two, one = statistics.median(times["two passes"]), statistics.median(times["one pass"])
    print(f"median of {args.reps}: two passes {two:.2f} s, one pass {one:.2f} s")
    print(f"shared_pass_speedup={two / one:.3f}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
