"""Harness overhead: the same trial through ``sweep launch`` and as a bare loop, side by side.

The trial (a Conv-TasNet at the ``cpu`` preset's sizes on the embedded corpus; one fixed
configuration, one seed) runs twice, each in a fresh process on a corpus built beforehand:

* **harness**: ``sweep launch SPEC --report FILE`` (Ray, Tune, Optuna, the store, checkpoints,
  the HTML report), timed from the command's start to its exit;
* **bare**: ``python benchmarks/harness_overhead.py --bare SPEC``: imports the harness's own
  training and evaluation code, resolves the same :class:`~sweep.plan.TrialPlan` and calls
  :func:`sweep.worker.trial.run_plan` with a report that keeps the metrics in a list. Timed the
  same way.

Both arms compute the same numbers (the script prints whether their test SI-SNRi agree) so the
difference is what the harness adds. With ``--repeats N`` the pair runs N times, alternating, and
medians count (a shared machine's load drifts). The last line is ``overhead_fraction=<x>`` with
``x = (harness wall - bare wall) / bare wall``; the line before splits the harness's wall time
into the time before the trial started (imports, database, Ray's start, Optuna, the worker's
start), the trial as the driver timed it (``sweep_trial.wall_s``), and the time after it (the
report, Ray's shutdown).

    .venv/bin/python benchmarks/harness_overhead.py --repeats 3   # a trial of about 50-60 s on 2 CPU cores
    .venv/bin/python benchmarks/harness_overhead.py --quick       # seconds: the plumbing only
    .venv/bin/python benchmarks/harness_overhead.py --ray-address 127.0.0.1:6379   # Ray kept up

Each pair also prints the launch's own phase line (set-up, Ray's start, the first trial's wait).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve()
SWEEP = str(Path(sys.executable).with_name("sweep"))
STUDY = "overhead"
CONVTASNET_CPU = ("N: 64, L: 16, B: 32, H: 64, P: 3, X: 5, R: 2, Sc: 32, "
                  "norm: gLN, causal: false, activation: sigmoid")
SIZES = {  # corpus (seed 3, as tests/conftest.py's tiny_data), epochs, training cap, test cap
    "full": {"corpus": {"seed": 3, "n_train": 120, "n_valid": 12, "n_test": 12}, "epochs": 12, "segment_s": 1.0,
             "max_eval_utterances": 12},
    "quick": {"corpus": {"seed": 3, "n_train": 24, "n_valid": 4, "n_test": 4}, "epochs": 1, "segment_s": 0.5,
              "max_eval_utterances": 2},
}


def spec_text(size: str) -> str:
    """One fixed Conv-TasNet configuration (nothing searched: one trial, seed 0)."""
    s = SIZES[size]
    corpus = ", ".join(f"{k}: {v}" for k, v in s["corpus"].items())
    return "\n".join([
        f"study: {STUDY}", "family: convtasnet", "seed: 0", "dataset: {kind: default, " + corpus + "}",
        "params: {" + CONVTASNET_CPU + "}",
        "train:", f"  epochs: {s['epochs']}", f"  segment_s: {s['segment_s']}", "  batch_size: 4", "  lr: 0.001",
        f"  max_eval_utterances: {s['max_eval_utterances']}", "  num_threads: 1",
        "sampler: random", "scheduler: none", "n_trials: 1", "max_concurrent: 1", "resources: {cpu: 1, gpu: 0}",
    ]) + "\n"


def corpus_dir(work: Path, size: str) -> Path:
    """Where the corpus of ``size`` is cached under ``work`` (a copy placed there skips its build)."""
    from sweep.data.cache import default_corpus_dir

    c = SIZES[size]["corpus"]
    return default_corpus_dir(c["seed"], c["n_train"], c["n_valid"], c["n_test"], work / "data")


def build_corpus(work: Path, size: str) -> Path:
    """Build (or reuse) the corpus before either arm is timed."""
    from sweep.data.synth import make_default_dataset

    c = SIZES[size]["corpus"]
    return make_default_dataset(corpus_dir(work, size), seed=c["seed"], n_train=c["n_train"], n_valid=c["n_valid"],
                                n_test=c["n_test"])


def bare(spec_path: Path) -> None:
    """The bare arm (run in its own process): the plan as the driver would resolve it, run by
    :func:`run_plan` with no Ray, Optuna, store or report. Prints one JSON line."""
    t0 = time.perf_counter()
    from sweep.data.cache import data_root_for
    from sweep.spec import load_spec
    from sweep.worker.trial import run_plan

    spec = load_spec(spec_path)
    if spec.grid_size() != 1:
        raise SystemExit(f"{spec_path}: the bare arm runs one configuration; this spec has {spec.grid_size()}")
    plan = spec.resolve_trial({k: v[0] for k, v in spec.grid().items()}, str(data_root_for(spec, None)))
    reports: list[dict] = []
    t1 = time.perf_counter()
    run_plan(plan, reports.append)
    final = reports[-1]
    print(json.dumps({"start_s": t1 - t0, "run_plan_s": time.perf_counter() - t1, "epochs": final["epoch"],
                      "si_snri": {f"{r['condition']}/{r['assignment']}": r["si_snri"] for r in final["results"]}}))


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SWEEP_DATA"], env["SWEEP_RUNS"] = str(work / "data"), str(work / "ray")
    return env


def run_bare(work: Path, spec: Path) -> tuple[float, dict]:
    """Wall seconds of the bare arm's process and what it printed."""
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, str(HERE), "--bare", str(spec)], cwd=work, env=_env(work),
                          capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"bare arm exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def _utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # as the store writes its timestamps


def run_harness(work: Path, spec: Path, ray_address: str | None = None) -> tuple[float, dict]:
    """Wall seconds of ``sweep launch --report`` (``--ray-address``: on that running Ray instead of
    a private one) and the trial's row: its wall_s, test SI-SNRi, and the seconds from the
    command's start to the trial's start and from the trial's end to the exit."""
    db = work / "sweep.db"
    db.unlink(missing_ok=True)  # a fresh study every run (an existing one would have nothing to run)
    address = ["--ray-address", ray_address] if ray_address else []
    began, t0 = _utc(), time.monotonic()
    done = subprocess.run([SWEEP, "launch", str(spec), "--storage", f"sqlite:///{db}", "--report",
                           str(work / "overhead.html"), *address], cwd=work, env=_env(work), capture_output=True,
                          text=True, timeout=1800)
    wall, ended = time.monotonic() - t0, _utc()
    if done.returncode != 0:
        raise RuntimeError(f"sweep launch exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    phases = [line for line in done.stderr.splitlines() if line.startswith("phases (s):")]
    with sqlite3.connect(db) as c:
        (trial_id, wall_s, epochs, started, finished), = c.execute(
            "SELECT id, wall_s, epochs_done, started_at, finished_at FROM sweep_trial").fetchall()
        rows = c.execute("SELECT condition, assignment, si_snri FROM sweep_result WHERE trial_id = ?", (trial_id,))
        si_snri = {f"{cond}/{assign}": value for cond, assign, value in rows}
    return wall, {"trial_wall_s": wall_s or 0.0, "epochs": epochs, "si_snri": si_snri,
                  "before_s": (datetime.fromisoformat(started) - began).total_seconds(),
                  "after_s": (ended - datetime.fromisoformat(finished)).total_seconds(),
                  "phases": phases[-1] if phases else "(no phase line)"}


def same_results(a: dict[str, float], b: dict[str, float], tol_db: float = 1e-3) -> bool:
    """Whether both arms scored the same test SI-SNRi (dB) for every condition and assignment."""
    return set(a) == set(b) and all(abs(a[k] - b[k]) <= tol_db for k in a)


def _pair_lines(i: int, bare_wall: float, b: dict, harness_wall: float, h: dict) -> list[str]:
    agree = same_results(b["si_snri"], h["si_snri"])
    return [
        f"run {i}: bare loop {bare_wall:.1f} s wall ({b['start_s']:.1f} s imports and plan, {b['run_plan_s']:.1f} s "
        f"run_plan, {b['epochs']} epochs); sweep launch {harness_wall:.1f} s wall ({h['before_s']:.1f} s to the "
        f"trial's start, trial {h['trial_wall_s']:.1f} s, {h['after_s']:.1f} s after it; {h['epochs']} epochs)",
        f"run {i}: sweep launch's {h['phases']}",
        f"run {i}: same test SI-SNRi in both arms: {'yes' if agree else 'NO'} "
        f"(bare {json.dumps(b['si_snri'])}; harness {json.dumps(h['si_snri'])})",
    ]


def run(size: str, work: Path, out=sys.stdout, repeats: int = 1, ray_address: str | None = None) -> dict[str, float]:
    """Build the corpus, run the two arms ``repeats`` times (bare, harness, bare, ...), print each
    pair and the medians; returns the median figures."""
    spec = work / "overhead.yaml"
    spec.write_text(spec_text(size))
    build_corpus(work, size)
    bares, harnesses, agree = [], [], True
    for i in range(1, repeats + 1):
        (bare_wall, b), (harness_wall, h) = run_bare(work, spec), run_harness(work, spec, ray_address)
        bares.append((bare_wall, b)), harnesses.append((harness_wall, h))
        agree &= same_results(b["si_snri"], h["si_snri"])
        for line in _pair_lines(i, bare_wall, b, harness_wall, h):
            print(line, file=out, flush=True)
    bare_s = statistics.median(w for w, _ in bares)
    harness_s = statistics.median(w for w, _ in harnesses)
    med = {k: statistics.median(h[k] for _, h in harnesses) for k in ("before_s", "trial_wall_s", "after_s")}
    run_plan_s = statistics.median(b["run_plan_s"] for _, b in bares)
    fraction = (harness_s - bare_s) / bare_s
    print(f"median of {repeats}: bare {bare_s:.1f} s (run_plan {run_plan_s:.1f} s); harness {harness_s:.1f} s "
          f"({med['before_s']:.1f} s before the trial, trial {med['trial_wall_s']:.1f} s, {med['after_s']:.1f} s "
          f"after it)", file=out)
    print(f"overhead_fraction={fraction:.3f}", file=out, flush=True)
    return {"bare_s": bare_s, "harness_s": harness_s, "overhead_fraction": fraction, "same": float(agree)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a trial of seconds on the tiny corpus (plumbing)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the corpus, database and report "
                    "(default: a temporary one, removed afterwards)")
    ap.add_argument("--repeats", type=int, default=1, help="run the pair this many times; medians count")
    ap.add_argument("--ray-address", default=None, help="run the harness arm on this running Ray (e.g. one "
                    "`ray start --head` keeps up) instead of starting a private one per launch")
    ap.add_argument("--bare", type=Path, default=None, metavar="SPEC", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare is not None:
        bare(args.bare)
        return
    size = "quick" if args.quick else "full"
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        run(size, args.work.resolve(), repeats=args.repeats, ray_address=args.ray_address)
        return
    with tempfile.TemporaryDirectory(prefix="harness-overhead-") as tmp:
        run(size, Path(tmp), repeats=args.repeats, ray_address=args.ray_address)


if __name__ == "__main__":
    main()
