"""A fault campaign against real ``sweep launch`` subprocesses.

Each fault runs a tiny study (1 x 32 LSTM uPIT, 2 trials, 3 epochs, the embedded default corpus)
in its own database, injects one fault, then runs ``sweep resume STUDY`` and checks the study:
every planned configuration finished exactly once (complete or pruned; a configuration that
always fails: failed with its reason, at most once per driver run), no configuration run twice
to completion (``duplicated``), none missing (``lost``), ``sweep_trial`` rows 1:1 with Optuna's
trials. One line per fault; the last line is ``faults=N survived=N lost=N duplicated=N``.

Faults: SIGKILL of the driver's process group at seeded random phases (corpus build, oracle
scoring, Ray start, mid-epoch, right after an epoch row is written, report rendering), a killed
Ray worker, a trial whose loss overflows, the same retried and still failing, a trial that runs
out of memory under a small memory cap (``benchmarks/memhog_family.py``: its reason must say
so, and the study's other trial still completes), and a corpus build killed halfway (the resume
must rebuild it).

    .venv/bin/python benchmarks/fault_campaign.py [--seed 0] [--kills 10] [--only PHASE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SWEEP = str(Path(sys.executable).with_name("sweep"))
KILL_PHASES = ("corpus_build", "oracle", "ray_start", "mid_epoch", "epoch_write", "report")
OTHER_FAULTS = ("worker_kill", "overflow", "overflow_retried", "oom", "corpus_halfway")
BENCHMARKS = Path(__file__).resolve().parent
MASKS = ("AM", "PSM")
SHARED = {"seed": 3, "n_train": 24}  # the corpus most faults share (built once, by the first that needs it)


@dataclasses.dataclass
class Result:
    fault: str
    survived: bool
    lost: int
    duplicated: int
    hit: bool  # the kill landed in the phase it aimed at
    note: str = ""

    def line(self) -> str:
        return (f"{self.fault:<18} {'survived' if self.survived else 'BROKEN  '} lost={self.lost} "
                f"duplicated={self.duplicated} phase={'hit' if self.hit else 'MISSED'} {self.note}").rstrip()


def spec_text(study: str, *, corpus: dict, epochs: int = 3, failing: bool = False, retries: int = 0) -> str:
    """A 2-trial grid over mask_type; ``failing`` adds a grid axis over lr where 1e30 overflows."""
    ds = ", ".join(f"{k}: {v}" for k, v in {"kind": "default", "n_valid": 4, "n_test": 4, **corpus}.items())
    lines = [f"study: {study}", "family: upit", "seed: 1", "dataset: {" + ds + "}", "params:",
             f"  mask_type: {{choice: [{', '.join(MASKS[:1] if failing else MASKS)}]}}",
             f"  activation: {'relu' if failing else 'sigmoid'}", "  rnn_type: lstm", "  num_layers: 1",
             "  hidden_size: 32", "train:", f"  epochs: {epochs}", "  segment_s: 0.5", "  batch_size: 4",
             "  lr: {choice: [0.003, 1.0e+30]}" if failing else "  lr: 0.003", "  max_eval_utterances: 2"]
    if failing:
        lines.append("  grad_clip: 1.0e+30")  # relu masks with these weights overflow the loss
    lines += ["sampler: grid", "scheduler: none", "max_concurrent: 1"]
    if retries:
        lines.append(f"failure: {{max_retries: {retries}}}")
    return "\n".join(lines) + "\n"


def oom_spec_text(study: str, *, corpus: dict) -> str:
    """A 2-trial grid of the memhog family (benchmarks/memhog_family.py): one trial's training
    step asks for 4 GiB under a 256 MiB cap and runs out of memory; the other trains."""
    ds = ", ".join(f"{k}: {v}" for k, v in {"kind": "default", "n_valid": 4, "n_test": 4, **corpus}.items())
    return "\n".join([f"study: {study}", "family: memhog", "seed: 1", "dataset: {" + ds + "}", "params:",
                      "  hog_mb: {choice: [0, 4096]}", "  cap_mb: 256", "train:", "  epochs: 2", "  segment_s: 0.5",
                      "  batch_size: 4", "  max_eval_utterances: 2", "sampler: grid", "scheduler: none",
                      "max_concurrent: 1"]) + "\n"


def planned(failing: bool, oom: bool = False) -> tuple[list[dict], list[dict]]:
    """(configurations that must complete, configurations that must fail), as Optuna's params."""
    if oom:
        return [{"hog_mb": 0}], [{"hog_mb": 4096}]
    if failing:
        return [{"train.lr": 0.003}], [{"train.lr": 1e30}]  # one mask: a fixed value, not a param
    return [{"mask_type": m} for m in MASKS], []


class Driver:
    """A ``sweep launch`` (or resume) in its own session; its output lines are collected live."""

    def __init__(self, args: list[str], work: Path, env: dict):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([SWEEP, *args], cwd=work, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def seen(self, pattern: str) -> bool:
        return any(re.search(pattern, ln) for ln in list(self.lines))

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the driver and every Ray process it started
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=60)
        self._reader.join(timeout=10)

    def wait(self, timeout: float = 600) -> int:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.kill()
        self._reader.join(timeout=10)
        return self.proc.returncode


def db_rows(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def wait_for(drv: Driver, cond, timeout: float = 240, step: float = 0.03) -> bool:
    """Poll ``cond()`` until true; False when the driver ended first or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        if drv.proc.poll() is not None:
            return bool(cond())
        time.sleep(step)
    return False


def session_workers(sid: int) -> list[int]:
    """Ray trial workers in the driver's session (they run the trainable as ``ray::ImplicitFunc``)."""
    out = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True).stdout
    pids = []
    for line in out.splitlines():
        pid, s, args = line.strip().split(None, 2) + [""] * (3 - len(line.strip().split(None, 2)))
        if s == str(sid) and re.search(r"ray::(ImplicitFunc|run_trial)", args):
            pids.append(int(pid))
    return pids


def default_corpus_name(data_dir: Path) -> Path:
    """Where the shared corpus lives under ``data_dir`` (a copy placed there skips its build)."""
    from sweep.data.cache import default_corpus_dir

    return default_corpus_dir(SHARED["seed"], SHARED["n_train"], 4, 4, data_dir)


def building(data_dir: Path) -> bool:
    return any(data_dir.glob(".*.partial/.sweep-building"))


def inject(fault: str, drv: "Driver", rng: random.Random, data_dir: Path, db: Path, study: str,
           report: Path) -> tuple[bool, str]:
    """Inject ``fault`` into the running launch ``drv``; returns (hit its phase, note)."""
    hit, note = False, ""

    def trials():
        return db_rows(db, "select number, status, epochs_done from sweep_trial")

    if fault in ("corpus_build", "corpus_halfway"):
        ok = wait_for(drv, lambda: drv.seen(r"data: tr synthesis"))
        time.sleep(rng.uniform(0.0, 0.6) if fault == "corpus_build" else rng.uniform(0.9, 1.4))
        hit = ok and building(data_dir) and not drv.seen(r"data: tt mixtures")
        drv.kill()
        note = "partial build left" if hit else ""
    elif fault == "oracle":
        ok = wait_for(drv, lambda: drv.seen(r"data: tt mixtures (\d+)/\1$"))  # the corpus's last stage done
        hit = ok and not drv.seen("oracle masks")
        drv.kill()
    elif fault == "ray_start":
        ok = wait_for(drv, lambda: drv.seen("oracle masks"))
        time.sleep(rng.uniform(0.2, 2.5))
        hit = ok and not drv.seen(rf"study {study}: .* running")
        drv.kill()
    elif fault == "mid_epoch":
        ok = wait_for(drv, lambda: any(s == "running" and e >= 1 for _, s, e in trials()))
        time.sleep(rng.uniform(0.0, 0.2))
        hit = ok and any(s == "running" for _, s, _ in trials())
        drv.kill()
    elif fault == "epoch_write":
        n0 = rng.randint(1, 4)  # after the n0-th epoch row of the study
        ok = wait_for(drv, lambda: len(db_rows(db, "select 1 from sweep_epoch")) >= n0)
        hit = ok and drv.proc.poll() is None
        drv.kill()
        note = f"after epoch row {n0}"
    elif fault == "report":
        ok = wait_for(drv, lambda: drv.seen(rf"study {study}: 2/2 finished"), step=0.01)
        hit = ok and not report.exists() and drv.proc.poll() is None
        drv.kill()
        note = f"report {'written' if report.exists() else 'not written'} at kill"
    elif fault == "worker_kill":
        ok = wait_for(drv, lambda: any(s == "running" and e >= 1 for _, s, e in trials())
                      and session_workers(drv.proc.pid), step=0.1)
        pids = session_workers(drv.proc.pid) if ok else []
        for pid in pids[:1]:
            os.kill(pid, signal.SIGKILL)
        hit = bool(pids)
        code = drv.wait()
        note = f"launch exit {code}"
    elif fault == "oom":
        code = drv.wait()
        reasons = [e or "" for (e,) in db_rows(db, "select error from sweep_trial where status = 'failed'")]
        hit = code != 0 and any(r.startswith("out of memory: ") for r in reasons)
        note = f"launch exit {code}; stored reason: {reasons[0].splitlines()[0][:90] if reasons else 'none'}"
    else:  # overflow, overflow_retried: the failure is in the spec
        code = drv.wait()
        hit = code != 0
        note = f"launch exit {code}"
    return hit, note


def run_fault(fault: str, base: Path, data_dir: Path, rng: random.Random, index: int) -> Result:
    work = base / f"{index:02d}-{fault}"
    work.mkdir(parents=True)
    study = f"f{index}_{fault}"
    db = work / "sweep.db"
    url = f"sqlite:///{db}"
    env = {**os.environ, "SWEEP_DATA": str(data_dir), "SWEEP_RUNS": str(work / "ray")}
    if fault == "oom":  # the memhog family is a plugin: the driver and Ray's workers import it
        path = os.pathsep.join(p for p in (str(BENCHMARKS), env.get("PYTHONPATH", "")) if p)
        env.update(PYTHONPATH=path, SWEEP_PLUGINS="memhog_family")
    fresh = fault in ("corpus_build", "oracle", "corpus_halfway")  # these need a corpus not built yet
    corpus = {"seed": 100 + index, "n_train": 48 if fault == "corpus_halfway" else 24} if fresh else SHARED
    failing = fault.startswith("overflow")
    spec = work / "spec.yaml"
    spec.write_text(oom_spec_text(study, corpus=corpus) if fault == "oom" else
                    spec_text(study, corpus=corpus, failing=failing, retries=1 if fault == "overflow_retried" else 0))
    args = ["launch", str(spec), "--storage", url]
    report = work / "report.html"
    if fault == "report":
        args += ["--report", str(report)]
    drv = Driver(args, work, env)
    runs = 1
    try:
        hit, note = inject(fault, drv, rng, data_dir, db, study, report)
    finally:
        if drv.proc.poll() is None:
            drv.kill()
    (work / "launch.log").write_text("\n".join(drv.lines) + "\n")

    must_complete, must_fail = planned(failing, oom=fault == "oom")
    for attempt in range(3):  # resume again only while a healthy configuration is missing
        res = Driver(["resume", study, "--storage", url], work, env)
        code = res.wait()
        runs += 1
        (work / f"resume{attempt}.log").write_text("\n".join(res.lines) + "\n")
        if fault in ("corpus_build", "corpus_halfway") and attempt == 0 and hit:
            note += "; rebuilt on resume" if res.seen("data: tr synthesis") else "; NOT rebuilt on resume"
        lost, dup, problems = check(db, url, study, must_complete, must_fail, runs,
                                    "out of memory: " if fault == "oom" else "FloatingPointError")
        if code == 0 or not lost:
            break
    if problems:
        note += "; " + "; ".join(problems)
    return Result(fault, lost == 0 and dup == 0 and not problems, lost, dup, hit, note.lstrip("; "))


def check(db: Path, url: str, study_name: str, must_complete: list[dict], must_fail: list[dict],
          runs: int, reason: str = "FloatingPointError") -> tuple[int, int, list[str]]:
    """(lost, duplicated, other problems) of the study after its resumes."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=url)
    rows = {n: (s, e) for n, s, e in db_rows(db, "select number, status, error from sweep_trial")}
    problems = []
    if sorted(rows) != sorted(t.number for t in study.trials):
        problems.append(f"rows {sorted(rows)} != optuna {[t.number for t in study.trials]}")
    names = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}
    for t in study.trials:
        if t.number in rows and rows[t.number][0] != names.get(t.state.name):
            problems.append(f"trial {t.number}: row {rows[t.number][0]}, optuna {t.state.name}")
        if t.state.name == "RUNNING":
            problems.append(f"trial {t.number} still running")
        if t.state.name == "FAIL" and not (rows.get(t.number, (None, None))[1] or "").strip():
            problems.append(f"trial {t.number} failed with no stored reason")

    def key(p: dict) -> str:
        return json.dumps(p, sort_keys=True)

    done: dict[str, int] = {}
    failed: dict[str, int] = {}
    for t in study.trials:
        k = key(t.params)
        if t.state.name in ("COMPLETE", "PRUNED"):
            done[k] = done.get(k, 0) + 1
        elif t.state.name == "FAIL":
            failed[k] = failed.get(k, 0) + 1
    lost = dup = 0
    for p in must_complete:
        n = done.pop(key(p), 0)
        lost += n == 0
        dup += max(0, n - 1)
    for p in must_fail:
        k = key(p)
        n_done, n_failed = done.pop(k, 0), failed.get(k, 0)
        if n_done:
            problems.append(f"{p} was meant to fail but completed")
        lost += n_failed == 0
        dup += max(0, n_done - 1) + max(0, n_failed - runs)  # at most one failed trial per driver run
        errors = [rows[t.number][1] or "" for t in study.trials if key(t.params) == k and t.number in rows]
        if n_failed and not any(reason in e for e in errors):
            problems.append(f"{p} failed without its {reason} reason")
    dup += sum(done.values())  # completions of configurations nobody planned
    return lost, dup, problems


def campaign(seed: int = 0, kills: int = 10, only: list[str] | None = None, base: Path | None = None,
             out=sys.stdout) -> list[Result]:
    """Run the faults (``only``: these, in this order; default: ``kills`` seeded kill phases, every
    phase at least once when ``kills`` allows, then the other faults) and print one line each."""
    rng = random.Random(seed)
    if only:
        faults = list(only)
    else:
        phases = list(KILL_PHASES[:kills]) + [rng.choice(KILL_PHASES) for _ in range(kills - len(KILL_PHASES))]
        rng.shuffle(phases)
        faults = phases + list(OTHER_FAULTS)
    tmp = None
    if base is None:
        tmp = tempfile.TemporaryDirectory(prefix="fault-campaign-")
        base = Path(tmp.name)
    data_dir = base / "data"  # a fresh SWEEP_DATA: the corpus builds happen for real
    results = []
    try:
        for i, fault in enumerate(faults):
            t0 = time.monotonic()
            r = run_fault(fault, base, data_dir, rng, i)
            results.append(r)
            print(f"{r.line()} ({time.monotonic() - t0:.0f}s)", file=out, flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(summary(results), file=out, flush=True)
    return results


def summary(results: list[Result]) -> str:
    return (f"faults={len(results)} survived={sum(r.survived for r in results)} "
            f"lost={sum(r.lost for r in results)} duplicated={sum(r.duplicated for r in results)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="draws the kill phases and moments")
    ap.add_argument("--kills", type=int, default=10, help="process-group SIGKILLs (default 10)")
    ap.add_argument("--only", nargs="+", choices=KILL_PHASES + OTHER_FAULTS, help="run just these faults")
    ap.add_argument("--keep", type=Path, help="work under this folder and keep it (logs, databases)")
    a = ap.parse_args(argv)
    if a.keep:
        a.keep.mkdir(parents=True, exist_ok=True)
    results = campaign(a.seed, a.kills, a.only, a.keep)
    return 0 if all(r.survived for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
