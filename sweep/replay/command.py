"""``sweep replay (STUDY | --table FILE) --sampler S --scheduler asha|none --seeds N [-o FILE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sweep.replay import SAMPLERS, SCHEDULERS


def add_parser(sub, storage) -> None:
    sp = sub.add_parser("replay", help="benchmark a search strategy on a finished study's recorded curves")
    sp.add_argument("study", nargs="?", help="a finished study (or give --table)")
    sp.add_argument("--table", type=Path, default=None, help="a replay table written by --save-table")
    sp.add_argument("--sampler", default="tpe", help=f"one of {', '.join(SAMPLERS)}")
    sp.add_argument("--scheduler", default="none", help=f"one of {', '.join(SCHEDULERS)}")
    sp.add_argument("--seeds", type=int, default=20, help="replayed searches, seeds 0..N-1 (default 20)")
    sp.add_argument("--trials", type=int, default=None, help="trials per search (default: the table's size)")
    sp.add_argument("--grace-period", type=int, default=1, help="ASHA's first rung, epochs (default 1)")
    sp.add_argument("--reduction-factor", type=int, default=2, help="ASHA's reduction factor (default 2)")
    sp.add_argument("-o", "--output", type=Path, default=None, help="an HTML page of best so far against compute")
    sp.add_argument("--save-table", type=Path, default=None, help="write the study's replay table (CSV) here")
    storage(sp)
    sp.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from sweep.cli import UsageError
    from sweep.replay.run import replay  # Optuna, Ray and NumPy: only when replaying
    from sweep.replay.summary import figure_html, reach

    _check(args, UsageError)
    table = _table(args, UsageError)
    if args.save_table is not None:
        table.save(args.save_table)
        print(f"wrote {args.save_table}: {len(table.configs)} configurations", file=sys.stderr)
    name = args.sampler + ("+asha" if args.scheduler == "asha" else "")
    runs = [replay(table, args.sampler, args.scheduler, seed, args.trials, args.grace_period, args.reduction_factor)
            for seed in range(args.seeds)]
    full_epochs, full_s = table.full_cost()
    print(f"table: {len(table.configs)} configurations, full grid {full_epochs} epochs ({full_s:.0f} s recorded); "
          f"best {table.objective.label} {table.objective.fmt(table.best_value())}")
    print(reach(name, runs, table).line())
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(figure_html({name: runs}, table))
        print(args.output)
    return 0


def _check(args: argparse.Namespace, UsageError) -> None:
    if args.sampler not in SAMPLERS:
        raise UsageError(f"--sampler {args.sampler}: one of {', '.join(SAMPLERS)}")
    if args.scheduler not in SCHEDULERS:
        raise UsageError(f"--scheduler {args.scheduler}: one of {', '.join(SCHEDULERS)}")
    if not 1 <= args.seeds <= 1000 or (args.trials is not None and not 1 <= args.trials <= 100_000):
        raise UsageError("--seeds must be in [1, 1000] and --trials in [1, 100000]")
    if (args.study is None) == (args.table is None):
        raise UsageError("give a study or --table FILE (one of them)")
    if args.output is not None and args.output.is_dir():
        raise UsageError(f"-o {args.output} is a folder; give the page a file name")


def _table(args: argparse.Namespace, UsageError):
    from sweep.replay.table import ReplayTable

    if args.table is not None:
        try:
            return ReplayTable.load(args.table)
        except (OSError, ValueError, IndexError) as exc:
            raise UsageError(f"{args.table}: cannot read a replay table ({exc})") from None
    from sweep.store import Store
    from sweep.studies import no_study_message

    store = Store(args.storage, write=False)
    if store.study(args.study) is None:
        raise UsageError(no_study_message(store, args.study))
    try:
        return ReplayTable.from_study(store, args.study)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
