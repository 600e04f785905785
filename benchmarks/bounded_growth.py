"""Bounded growth: a long study must not grow the driver's memory, nor slow ``status`` and ``report``.

Runs ``sweep launch`` (a subprocess, the real CLI) on a study of the benchmark stub family
(``benchmarks/stub_family.py``, loaded in the driver and in every Ray worker through
``SWEEP_PLUGINS``): random sampler, ``--trials`` trials of 1 or 2 epochs on the tiny embedded
corpus, two at a time. While it runs, the driver process's resident memory (RSS) is sampled with
the number of finished trials; then ``sweep status NAME`` and ``sweep report NAME -o FILE`` are
timed (wall clock of the subprocess, Python start-up included).

    .venv/bin/python benchmarks/bounded_growth.py                 # 1,000 trials
    .venv/bin/python benchmarks/bounded_growth.py --trials 30     # a quick run

The last line is ``trials=N rss_start_mb=A rss_end_mb=B status_s=S report_s=R`` where ``A`` is
the driver's RSS when 10% of the trials had finished (Ray, Tune and torch are loaded by then),
``B`` its RSS when all of them had, and ``S``, ``R`` the medians of three runs each (the
line before gives their CPU seconds, which a shared machine's load changes less). Targets
(issue 9): ``B`` about ``A``, ``S`` < 1 s, ``R`` < 30 s at 1,000 trials.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SWEEP = str(Path(sys.executable).with_name("sweep"))
STUDY = "growth"
CORPUS = {"seed": 3, "n_train": 24, "n_valid": 4, "n_test": 4}  # tests/conftest.py's tiny_data, same seed and sizes
MILESTONES = (0.1, 0.5, 1.0)


def spec_text(trials: int, study: str = STUDY) -> str:
    """The study: the stub family, random sampler, 1 or 2 epochs, a tiny corpus, 2 at a time."""
    corpus = ", ".join(f"{k}: {v}" for k, v in CORPUS.items())
    return "\n".join([
        f"study: {study}", "family: stub", "seed: 0", "dataset: {kind: default, " + corpus + "}",
        "params:", "  taps: {int: [1, 15]}", "  init_scale: {float: [0.5, 1.5]}",
        "train:", "  epochs: {int: [1, 2]}", "  segment_s: 0.25", "  batch_size: 4",
        "  lr: {log_float: [1.0e-3, 1.0e-1]}", "  max_eval_utterances: 2", "  num_threads: 1",
        "sampler: random", "scheduler: none", f"n_trials: {trials}", "max_concurrent: 2",
        "resources: {cpu: 1, gpu: 0}",
    ]) + "\n"


def bench_env(work: Path, per_round: int | None = None) -> dict[str, str]:
    """The driver's environment: the stub family as a plugin, the corpus and Tune's files under
    ``work``; ``per_round`` sets the trials per ``Tuner.fit()`` (``$SWEEP_ROUND_TRIALS``)."""
    env = dict(os.environ)
    if per_round:
        env["SWEEP_ROUND_TRIALS"] = str(per_round)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["SWEEP_PLUGINS"] = "stub_family"
    env["SWEEP_DATA"] = str(work / "data")
    env["SWEEP_RUNS"] = str(work / "ray")
    return env


def corpus_dir(work: Path) -> Path:
    """Where the study's corpus is cached under ``work`` (a copy placed there skips its build)."""
    from sweep.data.cache import default_corpus_dir

    return default_corpus_dir(CORPUS["seed"], CORPUS["n_train"], CORPUS["n_valid"], CORPUS["n_test"], work / "data")


def finished_trials(db: Path) -> int:
    """Trials of the study that are complete or pruned (0 before the tables exist)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM sweep_trial WHERE status IN ('complete', 'pruned')").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or busy
        return 0


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``), None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None  # a zombie has no VmRSS line


@dataclasses.dataclass
class Sample:
    t_s: float  # seconds since the launch started
    finished: int  # trials finished so far
    rss_mb: float  # the driver process's resident memory, MiB


class RssSampler(threading.Thread):
    """Samples the driver's RSS and the finished-trial count every ``every_s`` seconds."""

    def __init__(self, pid: int, db: Path, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.db, self.every_s = pid, db, every_s
        self.samples: list[Sample] = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            rss = rss_mb(self.pid)
            if rss is None:  # the driver exited
                return
            self.samples.append(Sample(time.monotonic() - self.t0, finished_trials(self.db), rss))


def at_fraction(samples: list[Sample], trials: int, fraction: float) -> Sample:
    """The first sample with at least ``fraction`` of the trials finished (else the last one)."""
    need = max(1, round(fraction * trials))
    return next((s for s in samples if s.finished >= need), samples[-1])


def launch(work: Path, trials: int, env: dict[str, str], out) -> tuple[int, list[Sample], float]:
    """Run ``sweep launch``; returns (exit status, RSS samples, wall seconds)."""
    spec = work / "growth.yaml"
    spec.write_text(spec_text(trials))
    db = work / "sweep.db"
    log = (work / "launch.log").open("w")
    t0 = time.monotonic()
    proc = subprocess.Popen([SWEEP, "launch", str(spec), "--storage", f"sqlite:///{db}"], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    sampler = RssSampler(proc.pid, db)
    sampler.start()
    rc = proc.wait()
    wall = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    log.close()
    if rc != 0:
        print((work / "launch.log").read_text()[-3000:], file=out)
    return rc, sampler.samples, wall


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_cli(args: list[str], work: Path, env: dict[str, str], repeats: int = 3) -> tuple[float, float, str]:
    """Median wall seconds and median CPU seconds (user + system) of ``repeats`` runs of one ``sweep``
    command (start-up included; on a shared machine the CPU time drifts less than the wall time)
    and its stdout; raises on failure."""
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.monotonic(), _children_cpu_s()
        done = subprocess.run([SWEEP, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        walls.append(time.monotonic() - t0)
        cpus.append(_children_cpu_s() - c0)
        if done.returncode != 0:
            raise RuntimeError(f"sweep {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return statistics.median(walls), statistics.median(cpus), done.stdout


def run(trials: int, work: Path, out=sys.stdout, per_round: int | None = None) -> dict[str, float]:
    """The whole benchmark in ``work``; prints its lines to ``out`` and returns the last line's figures."""
    env = bench_env(work, per_round)
    rc, samples, wall = launch(work, trials, env, out)
    if rc != 0 or not samples:
        raise RuntimeError(f"sweep launch exited {rc} with {len(samples)} RSS samples; log: {work / 'launch.log'}")
    for fraction in MILESTONES:
        s = at_fraction(samples, trials, fraction)
        print(f"driver rss at {fraction:.0%} of trials ({s.finished} finished, {s.t_s:.0f} s): {s.rss_mb:.1f} MB",
              file=out, flush=True)
    print(f"launch wall {wall:.1f} s ({wall / trials:.2f} s per trial); peak driver rss "
          f"{max(s.rss_mb for s in samples):.1f} MB", file=out, flush=True)
    storage = ["--storage", f"sqlite:///{work / 'sweep.db'}"]
    status_s, status_cpu, status_out = time_cli(["status", STUDY, *storage], work, env)
    print(status_out.strip().splitlines()[0], file=out)
    report_s, report_cpu, _ = time_cli(["report", STUDY, "-o", str(work / "growth.html"), *storage], work, env)
    print(f"cpu seconds (user + system, median of 3): status {status_cpu:.2f}, report {report_cpu:.2f}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", file=out)
    figures = {"trials": trials, "rss_start_mb": at_fraction(samples, trials, MILESTONES[0]).rss_mb,
               "rss_end_mb": at_fraction(samples, trials, 1.0).rss_mb, "status_s": status_s, "report_s": report_s}
    print(f"trials={trials} rss_start_mb={figures['rss_start_mb']:.1f} rss_end_mb={figures['rss_end_mb']:.1f} "
          f"status_s={status_s:.2f} report_s={report_s:.2f}", file=out, flush=True)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--per-round", type=int, default=None, help="trials per Tuner.fit() "
                    "($SWEEP_ROUND_TRIALS; default: the driver's, sweep.driver.rounds.ROUND_TRIALS)")
    ap.add_argument("--work", type=Path, default=None, help="folder for the database, corpus and report "
                    "(default: a temporary one, removed afterwards)")
    args = ap.parse_args()
    if args.trials < 10:
        ap.error("--trials must be at least 10 (the milestones are 10%, 50% and 100%)")
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        run(args.trials, args.work.resolve(), per_round=args.per_round)
        return
    with tempfile.TemporaryDirectory(prefix="bounded-growth-") as tmp:
        run(args.trials, Path(tmp), per_round=args.per_round)


if __name__ == "__main__":
    main()
