"""The ``sweep`` command line.

    sweep launch SPEC [--budget NAME] [--storage URL] [--study NAME] [--max-concurrent N] [--ray-address ADDR]
    sweep resume STUDY [--storage URL] [--max-concurrent N] [--ray-address ADDR]
    sweep status [STUDY] [--storage URL]
    sweep report STUDY [-o FILE] [--storage URL]
    sweep oracle (--spec SPEC | --data ROOT) [--storage URL]
    sweep families [--format table|csv]
    sweep data make [--root DIR] [--seed N] [--n-train N] [--n-valid N] [--n-test N]
    sweep data check SPEC [--budget NAME]

Bad input exits with status 2 and one line that says why.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sweep.store import default_storage


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep", description="Benchmark speech separators with Ray Tune + Optuna.")
    sub = p.add_subparsers(dest="command", required=True)

    def storage(sp):
        sp.add_argument("--storage", default=default_storage(),
                        help="SQLAlchemy URL of the database (default: $SWEEP_STORAGE or sqlite:///sweep.db)")

    def cluster(sp):
        sp.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: the spec's)")
        sp.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")

    sp = sub.add_parser("launch", help="run a study from a search-space YAML (resumes if it exists)")
    sp.add_argument("spec", type=Path)
    sp.add_argument("--study", default=None, help="study name (default: the spec's)")
    sp.add_argument("--budget", default=None,
                    help="one of the spec's `budgets` (e.g. cpu, paper); default: its first")
    storage(sp), cluster(sp)
    sp.add_argument("--report", type=Path, default=None, help="also write the HTML report here when done")

    sp = sub.add_parser("resume", help="carry on a stopped study from the database")
    sp.add_argument("study")
    storage(sp), cluster(sp)

    sp = sub.add_parser("status", help="trial counts and the best so far")
    sp.add_argument("study", nargs="?")
    storage(sp)

    sp = sub.add_parser("report", help="render the HTML leaderboard of a study")
    sp.add_argument("study")
    sp.add_argument("-o", "--output", type=Path, default=None, help="default: reports/STUDY.html")
    storage(sp)

    sp = sub.add_parser("oracle", help="score the oracle masks (IPSM, IRM, IBM, WFM) on a dataset's test conditions")
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", type=Path, help="a search-space YAML: its dataset, n_src and max_eval_utterances")
    src.add_argument("--data", type=Path, help="a wsj0-2mix style root (tt, and tt_closed or cv)")
    sp.add_argument("--n-src", type=int, default=2)
    sp.add_argument("--sample-rate", type=int, default=8000)
    sp.add_argument("--max-utterances", type=int, default=None, help="first N per condition (default: all)")
    storage(sp)

    sp = sub.add_parser("families", help="the separator families, their blocks, parameters and sizes")
    sp.add_argument("--format", choices=("table", "csv"), default="table")

    sp = sub.add_parser("data", help="datasets")
    dsub = sp.add_subparsers(dest="data_command", required=True)
    mk = dsub.add_parser("make", help="build the embedded default dataset (cached)")
    mk.add_argument("--root", type=Path, default=None)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--n-train", type=int, default=2000)
    mk.add_argument("--n-valid", type=int, default=200)
    mk.add_argument("--n-test", type=int, default=150)
    ck = dsub.add_parser("check", help="check the dataset a spec names and print what a study would see")
    ck.add_argument("spec", type=Path)
    ck.add_argument("--budget", default=None, help="one of the spec's `budgets` (default: its first)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweep: interrupted; the study resumes from the database with `sweep resume`", file=sys.stderr)
        return 130


def _check_storage(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except ArgumentError:
        raise UsageError(f"--storage {url!r} is not an SQLAlchemy URL (e.g. sqlite:///sweep.db)") from None


def _dispatch(args: argparse.Namespace) -> int:
    from sweep.spec import SpecError, load_spec

    if args.command == "families":
        from sweep.families import print_families

        print_families(sys.stdout, args.format)
        return 0
    if args.command == "data" and args.data_command == "check":
        return _data_check(args)
    if args.command == "data":
        from sweep.data.synth import make_default_dataset
        from sweep.launch import _stage_printer, default_data_dir

        root = args.root or default_data_dir() / f"default-seed{args.seed}-{args.n_train}-{args.n_valid}-{args.n_test}"
        try:
            path = make_default_dataset(root, seed=args.seed, n_train=args.n_train, n_valid=args.n_valid,
                                        n_test=args.n_test, progress=_stage_printer(sys.stderr))
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
        print(path)
        return 0

    _check_storage(args.storage)
    if args.command == "oracle":
        from sweep.oracle_cli import run_oracle

        try:
            return run_oracle(args)
        except (SpecError, FileNotFoundError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    if args.command in ("launch", "resume"):
        from sweep.data.check import DataError
        from sweep.launch import ResourceError, launch, spec_for_study
        from sweep.store import StudyBusy
        from sweep.store import Store

        if args.max_concurrent is not None and args.max_concurrent < 1:
            raise UsageError("--max-concurrent must be at least 1")
        if args.command == "launch":
            try:
                spec = load_spec(args.spec, budget=args.budget)
            except SpecError as exc:
                raise UsageError(str(exc)) from None
            name = args.study or spec.study
        else:
            try:
                spec = spec_for_study(Store(args.storage), args.study)
            except KeyError as exc:
                raise UsageError(exc.args[0]) from None
            name = args.study
        try:
            outcome = launch(spec, args.storage, study_name=name, max_concurrent=args.max_concurrent,
                             ray_address=args.ray_address)
        except (FileNotFoundError, DataError, ResourceError, StudyBusy) as exc:
            raise UsageError(str(exc)) from None
        best = "-" if outcome.best is None else f"{outcome.best:.2f} dB"
        print(f"study {name}: {outcome.finished}/{outcome.planned} finished, {outcome.failed} failed; "
              f"best valid SI-SNRi {best}")
        if getattr(args, "report", None):
            from sweep.report import write_report

            print(write_report(Store(args.storage), name, args.report))
        return 0 if outcome.finished >= outcome.planned else 1

    from sweep.store import Store

    store = Store(args.storage)
    if args.command == "status":
        return _status(store, args.study)
    if args.command == "report":
        from sweep.report import write_report

        if store.study(args.study) is None:
            known = ", ".join(s.name for s in store.studies()) or "none"
            raise UsageError(f"no study named {args.study!r} in {args.storage} (known: {known})")
        out = write_report(store, args.study, args.output or Path("reports") / f"{args.study}.html")
        print(out)
        return 0
    raise UsageError(f"unknown command {args.command}")


def _data_check(args: argparse.Namespace) -> int:
    """``sweep data check SPEC``: the summary on stdout, or exit 2 naming the bad file."""
    from sweep.data.check import DataError
    from sweep.launch import check_data
    from sweep.spec import SpecError, load_spec

    try:
        spec = load_spec(args.spec, budget=args.budget)
        plan = check_data(spec)
    except (SpecError, DataError) as exc:
        raise UsageError(str(exc)) from None
    if plan is None:
        ds = spec.dataset
        print(f"dataset default: the embedded corpus ({ds.n_train}/{ds.n_valid}/{ds.n_test} mixtures, seed "
              f"{ds.seed}), generated and checked by `sweep data make` or the first launch")
    else:
        print(plan.summary())
    return 0


def _status(store, name: str | None) -> int:
    from sweep.store import COMPLETE

    studies = store.studies() if name is None else [s for s in [store.study(name)] if s is not None]
    if name is not None and not studies:
        raise UsageError(f"no study named {name!r} in {store.url}")
    if not studies:
        print("no studies")
    for s in studies:
        c = store.counts(s.id)
        done = [t for t in store.trials(s.id) if t.status == COMPLETE and t.valid_si_snri is not None]
        best = max(done, key=lambda t: t.valid_si_snri) if done else None
        best_txt = (f"best valid SI-SNRi {best.valid_si_snri:.2f} dB (trial {best.number}: "
                    + " ".join(f"{k}={v}" for k, v in sorted(best.params.items())) + ")") if best else "best -"
        print(f"{s.name} [{s.family}, {s.sampler}]: {c['complete'] + c['pruned']}/{s.n_trials} finished "
              f"({c['complete']} complete, {c['pruned']} pruned), {c['running']} running, {c['failed']} failed; "
              f"{best_txt}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
