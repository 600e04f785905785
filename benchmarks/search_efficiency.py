"""How much compute each search strategy needs, replayed on a recorded grid (no training).

    .venv/bin/python benchmarks/search_efficiency.py [--table benchmarks/data/replay_grid.csv] [--seeds 20] [-o page.html]

The table ships with the project: every configuration of ``benchmarks/data/replay_grid.yaml``
(96 uPIT configurations on the embedded data, 6 epochs each, per-epoch validation curves),
written by ``sweep replay replay_grid --save-table``. Each strategy runs ``--seeds`` searches of
as many trials as the grid has configurations (``sweep.replay``): grid (in a seeded random
order), random, TPE, and TPE with ASHA (grace period 1, reduction factor 2). Compute is counted
in recorded epochs. Prints one line per strategy, then the last line
``tpe_asha_compute_fraction=<x> random_compute_fraction=<y>``: the median compute to come within
0.3 dB of the grid's best, as a fraction of the full grid's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweep.replay.run import replay  # noqa: E402
from sweep.replay.summary import figure_html, reach  # noqa: E402
from sweep.replay.table import ReplayTable  # noqa: E402

TABLE = Path(__file__).resolve().parent / "data" / "replay_grid.csv"
STRATEGIES = {"grid": ("grid", "none"), "random": ("random", "none"), "tpe": ("tpe", "none"),
              "tpe+asha": ("tpe", "asha")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=None, help="trials per search (default: the table's size)")
    ap.add_argument("-o", "--output", type=Path, default=None, help="an HTML page of the four bands")
    args = ap.parse_args()
    table = ReplayTable.load(args.table)
    epochs, seconds = table.full_cost()
    print(f"table {args.table.name}: {len(table.configs)} configurations, full grid {epochs} epochs "
          f"({seconds:.0f} s recorded), best {table.objective.fmt(table.best_value())}", flush=True)
    results, reached = {}, {}
    for name, (sampler, scheduler) in STRATEGIES.items():
        t0 = time.perf_counter()
        results[name] = [replay(table, sampler, scheduler, seed, args.trials) for seed in range(args.seeds)]
        reached[name] = reach(name, results[name], table)
        print(f"{reached[name].line()} [{time.perf_counter() - t0:.0f} s]", flush=True)
    if args.output is not None:
        args.output.write_text(figure_html(results, table))
    print(f"tpe_asha_compute_fraction={reached['tpe+asha'].median_fraction:.3f} "
          f"random_compute_fraction={reached['random'].median_fraction:.3f}")


if __name__ == "__main__":
    main()
