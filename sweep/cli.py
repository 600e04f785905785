"""The ``sweep`` command line: a parser per sub-command, each bound to its handler.

    sweep launch SPEC [--budget NAME] [--storage URL] [--study NAME] [--max-concurrent N] [--ray-address ADDR]
    sweep resume STUDY [--storage URL] [--max-concurrent N] [--ray-address ADDR]
    sweep status [STUDY] [--storage URL]
    sweep report STUDY [-o FILE] [--storage URL]
    sweep compare STUDY STUDY... [-o FILE] [--storage URL]
    sweep results STUDY [--format csv|json|latex] [-o FILE] [--storage URL]
    sweep oracle (--spec SPEC | --data ROOT) [--storage URL]
    sweep families [--format table|csv]
    sweep separate STUDY (--best | --trial N) IN... -o DIR [--channel K] [--chunk-s S] [--overlap-s S] [--device D]
    sweep export STUDY (--best | --trial N) --format torchscript|onnx -o FILE
    sweep data make [--root DIR] [--seed N] [--n-train N] [--n-valid N] [--n-test N]
    sweep data check SPEC [--budget NAME]

Bad input exits with status 2 and one line that says why.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

_STARTED: list[float] = [time.perf_counter()]  # the command's start (before the imports below)

import sweep  # noqa: E402
from sweep.data.constants import N_TEST, N_TRAIN, N_VALID  # noqa: E402
from sweep.store import default_storage  # noqa: E402
from sweep.store.engine import StorageError  # noqa: E402


def _command_start() -> float:
    """When this command started, for a launch's set-up phase: the CLI's import for the first
    launch of the process, now for any later one (a notebook or a test calling main() again)."""
    return _STARTED.pop() if _STARTED else time.perf_counter()


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if hasattr(args, "storage"):
            _check_storage(args.storage)
        return args.handler(args)
    except UsageError as exc:
        print(f"sweep: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:  # a database that breaks after the start-up check
        print(f"sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweep: interrupted; the study resumes from the database with `sweep resume`", file=sys.stderr)
        return 130


# -- handlers -------------------------------------------------------------------------------
def cmd_launch(args: argparse.Namespace) -> int:
    """``sweep launch SPEC`` and ``sweep resume STUDY``: run a study until it has its trials."""
    from sweep.data.check import DataError
    from sweep.driver.launch import Interrupted, ResourceError, launch, safe_url, spec_for_study
    from sweep.driver.phases import Phases
    from sweep.spec import SpecError, load_spec
    from sweep.store import Store, StudyBusy

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError("--max-concurrent must be at least 1")
    try:
        if args.command == "launch":
            spec = load_spec(args.spec, budget=args.budget)
            name = args.study or spec.study
            _check_study_name(name)
        else:
            spec, name = spec_for_study(Store(args.storage), args.study), args.study
        outcome = launch(spec, args.storage, study_name=name, max_concurrent=args.max_concurrent,
                         ray_address=args.ray_address, phases=Phases(started=_command_start()))
    except Interrupted as exc:
        storage = "" if args.storage == default_storage() else f" --storage '{safe_url(args.storage)}'"
        print(f"sweep: {exc}; resume with: sweep resume {exc.study}{storage}", file=sys.stderr)
        return exc.exit_code
    except (SpecError, FileNotFoundError, DataError, ResourceError, StudyBusy) as exc:
        raise UsageError(str(exc)) from None
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    print(f"study {name}: {outcome.finished}/{outcome.planned} finished, {outcome.failed} failed; "
          f"best {outcome.objective.label} {outcome.objective.fmt(outcome.best)}")
    if getattr(args, "report", None):
        from sweep.report.page import write_report

        if outcome.phases is None:
            print(write_report(Store(args.storage), name, args.report))
        else:
            with outcome.phases.time("report"):
                print(write_report(Store(args.storage), name, args.report))
    if outcome.phases is not None:
        _print_phases(Store(args.storage), name, outcome.phases)
    return 0 if outcome.finished >= outcome.planned else 1


def _print_phases(store, name: str, phases) -> None:
    """The launch's seconds per phase, stored with the study and printed (stderr)."""
    from sweep.driver.phases import phase_line

    study = store.study(name)
    store.update_study(study.id, phases=phases.as_dict())
    print(phase_line(phases.as_dict(), store.trials(study.id)), file=sys.stderr)


def cmd_status(args: argparse.Namespace) -> int:
    """``sweep status [STUDY]``: trial counts and the best trial by the study's objective. Reads only:
    a read-only database is fine, and a database that is not there is not created."""
    from sweep.studies import no_study_message
    from sweep.store import Store
    from sweep.store.engine import StorageError, safe_url

    try:
        store = Store(args.storage, write=False)
        studies = store.studies() if args.study is None else [s for s in [store.study(args.study)] if s is not None]
        if args.study is not None and not studies:
            raise UsageError(no_study_message(store, args.study))
        lines = [_status_line(store, s) for s in studies]
        if not lines:
            lines = ["no studies" + ("" if store.exists() else f" (no database at {safe_url(args.storage)})")]
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    print("\n".join(lines))
    return 0


def _status_line(store, s) -> str:
    """One study's lines of ``sweep status``: counts, the best trial by the study's objective
    (with the parameters that vary across the study), and why each failed trial failed."""
    from sweep.report.ranking import best_trial
    from sweep.objective import parse_objective  # not sweep.report.study: that imports torch
    from sweep.store import FAILED

    c = store.counts(s.id)
    trials = store.trials(s.id)
    objective = parse_objective(s.objective)
    best = best_trial(trials, objective)  # the report's rule (validation, the tested epoch)
    varying = _varying_keys([t.params or {} for t in trials])
    best_txt = (f"best {objective.label} {objective.fmt(best.objective_value)} (trial {best.number}: "
                + " ".join(f"{k}={best.params[k]}" for k in varying if k in best.params) + ")") if best else "best -"
    infeasible = f", {c['infeasible']} infeasible" if c.get("infeasible") else ""
    lines = [f"{s.name} [{s.family}, {s.sampler}]: {c['complete'] + c['pruned'] + c.get('infeasible', 0)}/"
             f"{s.n_trials} finished ({c['complete']} complete, {c['pruned']} pruned{infeasible}), "
             f"{c['running']} running, "
             + (f"{c['interrupted']} interrupted (resume continues them), " if c.get("interrupted") else "")
             + f"{c['failed']} failed; {best_txt}"]
    lines += [f"  trial {t.number} failed: {(t.error or 'no reason recorded').splitlines()[0]}"
              for t in trials if t.status == FAILED]
    lines += _pareto_lines(s, trials)
    return "\n".join(lines)


def _pareto_lines(study, trials) -> list[str]:
    """A multi-objective study's Pareto front (``pareto_rank`` 0), best first by its first objective."""
    from sweep.objective import parse_objectives

    objectives = parse_objectives(study.objective)
    if len(objectives) < 2:
        return []
    front = sorted((t for t in trials if t.pareto_rank == 0), key=lambda t: -objectives[0].key(t.objective_value))
    cells = [", ".join([f"{objectives[0].label} {objectives[0].fmt(t.objective_value)}"]
                       + [f"{o.label} {o.fmt(getattr(t, o.metric))}" for o in objectives[1:]]) for t in front]
    return [f"  Pareto front ({len(front)} trial(s)):"] + [f"    trial {t.number}: {c}" for t, c in zip(front, cells)]


def _varying_keys(params: list[dict]) -> list[str]:
    """The keys whose value differs between some two trials (missing counts as None), sorted.
    One pass per key (a study of 1,000 trials has 1,000 rows: no pairwise comparison)."""
    keys = {k for p in params for k in p}
    return sorted(k for k in keys if any(p.get(k) != params[0].get(k) for p in params))


def cmd_report(args: argparse.Namespace) -> int:
    """``sweep report STUDY``: write the study's HTML page (reads the database only)."""
    from sweep.studies import no_study_message
    from sweep.report.page import write_report
    from sweep.store import Store
    from sweep.store.engine import StorageError

    output = args.output or Path("reports") / f"{args.study}.html"
    if output.is_dir():
        raise UsageError(f"-o {output} is a folder; give the report a file name, e.g. {output / args.study}.html")
    try:
        store = Store(args.storage, write=False)
        if store.study(args.study) is None:
            raise UsageError(no_study_message(store, args.study))
        print(write_report(store, args.study, output))
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the report {output}: {exc.strerror or exc}") from None
    return 0


def _read_studies(storage: str, names: list[str]):
    """The store, opened read-only (nothing is created), once every study in ``names`` is in it."""
    from sweep.store import Store
    from sweep.studies import no_study_message

    store = Store(storage, write=False)
    for name in names:
        if store.study(name) is None:
            raise UsageError(no_study_message(store, name))
    return store


def _not_a_folder(output: Path | None, example: str) -> None:
    if output is not None and output.is_dir():
        raise UsageError(f"-o {output} is a folder; give a file name, e.g. {output / example}")


def cmd_compare(args: argparse.Namespace) -> int:
    """``sweep compare A B ...``: one HTML page for several studies (reads the database only)."""
    from sweep.report.compare import default_output, write_compare

    names = list(args.studies)
    if len(names) < 2 or len(set(names)) != len(names):
        raise UsageError("compare needs at least two different studies, e.g. sweep compare upit upit-paper")
    output = args.output or default_output(names)
    _not_a_folder(output, "compare.html")
    try:
        print(write_compare(_read_studies(args.storage, names), names, output))
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the page {output}: {exc.strerror or exc}") from None
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """``sweep results STUDY``: one row per trial x condition x assignment, as CSV, JSON or LaTeX
    (stdout, or -o FILE); reads the database only."""
    from sweep.report.page import write_atomic
    from sweep.report.study import load_study
    from sweep.results import FORMATS, render_results

    if args.format not in FORMATS:
        raise UsageError(f"--format {args.format[:40]!r}: choose one of {', '.join(FORMATS)}")
    _not_a_folder(args.output, f"{args.study}.{'tex' if args.format == 'latex' else args.format}")
    try:
        text = render_results(load_study(_read_studies(args.storage, [args.study]), args.study), args.format)
        if args.output is None:
            sys.stdout.write(text)
        else:
            print(write_atomic(args.output, text))
    except StorageError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    """``sweep oracle``: score the oracle masks on a dataset's test conditions, store and print the rows."""
    from sweep.data.cache import data_root_for, stage_printer
    from sweep.scoring.oracle import ensure_oracle
    from sweep.spec import SpecError, load_spec
    from sweep.store import Store

    try:
        if args.spec is not None:
            spec = load_spec(args.spec)
            root, n_src = data_root_for(spec, sys.stderr), spec.n_src
            rate, cap = spec.dataset.sample_rate, spec.train.max_eval_utterances
        else:
            root = Path(args.data).expanduser()
            if not root.is_dir():
                raise FileNotFoundError(f"--data {root} is not a folder")
            n_src, rate, cap = args.n_src, args.sample_rate, args.max_utterances
        rows = ensure_oracle(Store(args.storage), root, n_src, rate, cap, force=True,
                             progress=stage_printer(sys.stderr))
    except (SpecError, FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    for r in rows or []:
        print(f"{r['condition']:<7} {r['mask']:<5} SI-SNRi {r['si_snri']:6.2f} ± {r['si_snri_ci'] or 0:.2f}  "
              f"SDRi {r['sdri']:6.2f} ± {r['sdri_ci'] or 0:.2f}  SIR {r['sir']:6.2f}  SAR {r['sar']:6.2f}  "
              f"(n={r['n_utterances']})")
    return 0


def cmd_families(args: argparse.Namespace) -> int:
    from sweep.report.families import print_families

    print_families(sys.stdout, args.format)
    return 0


def cmd_data_make(args: argparse.Namespace) -> int:
    """``sweep data make``: build the embedded default corpus (cached)."""
    from sweep.data.cache import default_corpus_dir, stage_printer
    from sweep.data.synth import make_default_dataset

    sizes = [args.n_train, args.n_valid, args.n_test]
    root = args.root or default_corpus_dir(args.seed, *sizes)
    from sweep.data.check import DataError

    try:
        path = make_default_dataset(root, seed=args.seed, n_train=sizes[0], n_valid=sizes[1], n_test=sizes[2],
                                    progress=stage_printer(sys.stderr))
    except (RuntimeError, DataError) as exc:
        raise UsageError(str(exc)) from None
    print(path)
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    """``sweep data check SPEC``: the summary on stdout, or exit 2 naming the bad file."""
    from sweep.data.cache import check_data, data_summary
    from sweep.data.check import DataError
    from sweep.spec import SpecError, load_spec

    try:
        spec = load_spec(args.spec, budget=args.budget)
        print(data_summary(spec, check_data(spec)))
    except (SpecError, DataError) as exc:
        raise UsageError(str(exc)) from None
    return 0


# -- parser ---------------------------------------------------------------------------------
def _check_storage(url: str) -> None:
    """Every command that takes --storage: a URL that cannot be opened (unknown dialect or driver,
    bad port, unreachable server, refused login, a folder or a corrupt file as the SQLite database,
    a missing folder) stops here, with one line and no password. Creates and writes nothing."""
    from sweep.store.engine import StorageError, probe

    try:
        probe(url)
    except StorageError as exc:
        raise UsageError(str(exc)) from None


def _check_study_name(name: str) -> None:
    """``--study NAME`` obeys the spec's rule for study names (and the database column)."""
    from sweep.store.tables import NAME_LENGTH

    if not name or len(name) > NAME_LENGTH or not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"--study {name[:60]!r}: use 1 to {NAME_LENGTH} letters, digits, '-' and '_'")


def _storage(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--storage", default=default_storage(),
                    help="SQLAlchemy URL of the database (default: $SWEEP_STORAGE or sqlite:///sweep.db)")


def _cluster(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: the spec's)")
    sp.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: start a local one)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sweep", description="Benchmark speech separators with Ray Tune + Optuna.")
    p.add_argument("--version", action="version", version=f"sweep {sweep.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _study_parsers(sub)
    _data_parsers(sub)
    return p


def _study_parsers(sub) -> None:
    sp = sub.add_parser("launch", help="run a study from a search-space YAML (resumes if it exists)")
    sp.add_argument("spec", type=Path)
    sp.add_argument("--study", default=None, help="study name (default: the spec's)")
    sp.add_argument("--budget", default=None, help="one of the spec's `budgets` (e.g. cpu, paper); default: its first")
    _storage(sp), _cluster(sp)
    sp.add_argument("--report", type=Path, default=None, help="also write the HTML report here when done")
    sp.set_defaults(handler=cmd_launch)

    sp = sub.add_parser("resume", help="carry on a stopped study from the database")
    sp.add_argument("study")
    _storage(sp), _cluster(sp)
    sp.set_defaults(handler=cmd_launch)

    sp = sub.add_parser("status", help="trial counts and the best so far")
    sp.add_argument("study", nargs="?")
    _storage(sp)
    sp.set_defaults(handler=cmd_status)

    sp = sub.add_parser("report", help="render the HTML leaderboard of a study")
    sp.add_argument("study")
    sp.add_argument("-o", "--output", type=Path, default=None, help="default: reports/STUDY.html")
    _storage(sp)
    sp.set_defaults(handler=cmd_report)

    sp = sub.add_parser("compare", help="one HTML page for several studies, trials aligned by their keys")
    sp.add_argument("studies", nargs="+", metavar="STUDY")
    sp.add_argument("-o", "--output", type=Path, default=None, help="default: reports/compare_A_B.html")
    _storage(sp)
    sp.set_defaults(handler=cmd_compare)

    sp = sub.add_parser("results", help="export a study's trials x conditions x assignments (csv, json, latex)")
    sp.add_argument("study")
    sp.add_argument("--format", default="csv", help="csv (default), json or latex (the lecture's uPIT table)")
    sp.add_argument("-o", "--output", type=Path, default=None, help="default: standard output")
    _storage(sp)
    sp.set_defaults(handler=cmd_results)

    from sweep.replay.command import add_parser as add_replay

    add_replay(sub, _storage)

    from sweep.inference.command import add_parsers as add_inference

    add_inference(sub, _storage)  # separate, export

    sp = sub.add_parser("families", help="the separator families, their blocks, parameters and sizes")
    sp.add_argument("--format", choices=("table", "csv"), default="table")
    sp.set_defaults(handler=cmd_families)


def _data_parsers(sub) -> None:
    sp = sub.add_parser("oracle", help="score the oracle masks (IPSM, IRM, IBM, WFM) on a dataset's test conditions")
    src = sp.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", type=Path, help="a search-space YAML: its dataset, n_src and max_eval_utterances")
    src.add_argument("--data", type=Path, help="a wsj0-2mix style root (tt, and tt_closed or cv)")
    sp.add_argument("--n-src", type=int, default=2)
    sp.add_argument("--sample-rate", type=int, default=8000)
    sp.add_argument("--max-utterances", type=int, default=None, help="first N per condition (default: all)")
    _storage(sp)
    sp.set_defaults(handler=cmd_oracle)

    sp = sub.add_parser("data", help="datasets")
    dsub = sp.add_subparsers(dest="data_command", required=True)
    mk = dsub.add_parser("make", help="build the embedded default dataset (cached)")
    mk.add_argument("--root", type=Path, default=None)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--n-train", type=int, default=N_TRAIN)
    mk.add_argument("--n-valid", type=int, default=N_VALID)
    mk.add_argument("--n-test", type=int, default=N_TEST, help="per test condition")
    mk.set_defaults(handler=cmd_data_make)
    ck = dsub.add_parser("check", help="check the dataset a spec names and print what a study would see")
    ck.add_argument("spec", type=Path)
    ck.add_argument("--budget", default=None, help="one of the spec's `budgets` (default: its first)")
    ck.set_defaults(handler=cmd_data_check)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
