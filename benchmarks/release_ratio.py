"""Is this release slower than an earlier one on the main job? The same one-trial launch, side
by side, through each release's own ``sweep launch``, alternating, on one machine in one run.

The main job's measured time (README) comes from one machine; machines of this project's kind
differ by 2.5x, so a later release is compared with an earlier one here, on the same machine at
the same time, not with a figure measured elsewhere.

    .venv/bin/python benchmarks/release_ratio.py --base 6ceffae          # release 0.2's commit
    .venv/bin/python benchmarks/release_ratio.py --base 6ceffae --epochs 1 --reps 1

Each arm is a fresh ``python -m sweep.cli launch`` of the main job's spec cut to one trial
(``search_spaces/upit.yaml``, its first grid point, ``--epochs`` epochs), with ``PYTHONPATH`` set
to that release's tree (a ``git worktree`` of ``--base``; the current tree for "head"), the same
cached corpus, a fresh database. Per run it prints the launch's wall seconds and the trial's own
seconds (``sweep_trial.wall_s``); the last line is
``release_ratio=<head/base trial seconds, median> launch_ratio=<head/base launch wall, median>``.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_trial_spec(epochs: int) -> str:
    """The main job's spec with one grid point (PSM, relu) and ``epochs`` epochs."""
    text = (ROOT / "search_spaces" / "upit.yaml").read_text()
    text = re.sub(r"mask_type: \{choice: \[[^]]*\]\}", "mask_type: PSM", text)
    text = re.sub(r"activation: \{choice: \[[^]]*\]\}", "activation: relu", text)
    text = re.sub(r"(?m)^(  epochs:) \d+", rf"\1 {epochs}", text)
    return text


def worktree(commit: str, where: Path) -> Path:
    """A checkout of ``commit`` at ``where`` (``git worktree add --detach``)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit], check=True,
                   capture_output=True, text=True)
    return where


def run_arm(tree: Path, spec: Path, work: Path, data: Path) -> tuple[float, float]:
    """(launch wall seconds, the trial's wall_s) of one launch with ``tree``'s code."""
    work.mkdir(parents=True)
    env = dict(os.environ, PYTHONPATH=str(tree), SWEEP_DATA=str(data), SWEEP_RUNS=str(work / "ray"))
    db = work / "sweep.db"
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sweep.cli", "launch", str(spec), "--storage", f"sqlite:///{db}"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=3600)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: sweep launch exited {done.returncode}: {done.stderr[-2000:]}")
    with sqlite3.connect(db) as conn:
        (trial_s,) = conn.execute("SELECT wall_s FROM sweep_trial WHERE status = 'complete'").fetchone()
    return wall, float(trial_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the earlier release's commit")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=2, help="runs per arm, alternating")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SWEEP_DATA", ROOT / "data")),
                    help="the corpus cache (built by the first run if missing)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="release-ratio-") as tmp:
        tmp = Path(tmp)
        spec = tmp / "one.yaml"
        spec.write_text(one_trial_spec(args.epochs))
        trees = {"base": worktree(args.base, tmp / "base-tree"), "head": ROOT}
        try:
            times: dict[str, list[tuple[float, float]]] = {"base": [], "head": []}
            for rep in range(args.reps):
                for arm in (("base", "head") if rep % 2 == 0 else ("head", "base")):
                    wall, trial = run_arm(trees[arm], spec, tmp / f"{arm}-{rep}", args.data.resolve())
                    times[arm].append((wall, trial))
                    print(f"run {rep + 1} {arm}: launch {wall:.1f} s, trial {trial:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees["base"])],
                           capture_output=True)
    med = {arm: (statistics.median(w for w, _ in t), statistics.median(s for _, s in t)) for arm, t in times.items()}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"release_ratio={med['head'][1] / med['base'][1]:.3f} launch_ratio={med['head'][0] / med['base'][0]:.3f}")


if __name__ == "__main__":
    main()
