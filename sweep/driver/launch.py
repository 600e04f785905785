"""The driver: one process that hosts the Optuna study (through :class:`OptunaSearcher`), runs
the trials on Ray workers, and writes the database (Optuna's tables and ours).

``launch`` both starts and resumes a study in three steps: :func:`open_study` (claim it, close
what a dead driver left running, count what is finished), :func:`build_tuner` (searcher,
scheduler, trainable, callbacks) and the run itself, in rounds of ``Tuner.fit()``
(:mod:`sweep.driver.rounds`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from sweep.data.cache import check_data, data_root_for
from sweep.driver.cluster import ResourceError, check_resources, init_ray
from sweep.driver.phases import Phases
from sweep.driver.rounds import per_round
from sweep.driver.stopping import Interrupted, SignalCatcher, StopAll
from sweep.objective import Objective
from sweep.spec import Spec
from sweep.store import COMPLETE, FAILED, INFEASIBLE, PRUNED, Lease, Store, StudyBusy
from sweep.store.engine import DB_ERRORS, StorageError, storage_error
from sweep.store.engine import safe_url  # re-exported: the CLI prints URLs through it
from sweep.studies import no_study_message, spec_for_study  # re-exported

log = logging.getLogger("sweep")


@dataclasses.dataclass
class Outcome:
    study: str
    planned: int
    finished: int
    failed: int
    ran: int
    best: float | None  # the best objective value of a complete trial
    objective: Objective = dataclasses.field(default_factory=Objective)
    phases: Phases | None = None  # this launch's seconds per phase


def launch(spec: Spec, storage: str, study_name: str | None = None, max_concurrent: int | None = None,
           ray_address: str | None = None, out: TextIO | None = sys.stderr, phases: Phases | None = None) -> Outcome:
    """Run (or resume) ``spec`` until the study has ``spec.n_trials`` finished trials; ``phases``
    (default: new ones, from now) collects where the time went."""
    _quiet_ray()
    phases = phases or Phases()
    name = study_name or spec.study
    fit = check_resources(spec, ray_address)  # as bad data, an impossible trial stops before the store writes
    per_round()
    data_plan = check_data(spec)
    store = Store(storage)
    study_id = store.ensure_study(name, spec).id
    with Lease(store, study_id) as lease:  # before recover(): a live driver's trials are not stale
        study, ostorage, finished, carried = open_study(store, study_id, spec, name, storage, out)
        remaining = spec.n_trials - finished
        if remaining <= 0:
            _say(out, f"study {name}: {finished}/{spec.n_trials} trials already finished; nothing to run")
            return _outcome(store, study_id, name, spec, ran=0)
        phases.setup_done()
        with phases.time("corpus"):
            data_root = data_root_for(spec, out, data_plan)
        store.set_study_data_root(study_id, str(Path(data_root).resolve()))
        with phases.time("oracle"):
            _oracle_references(store, spec, data_root, out)
        with phases.time("ray_start"):
            init_ray(ray_address)
        concurrent = max_concurrent or spec.max_concurrent or fit
        with SignalCatcher() as signals:
            stopper = StopAll(signals, lease)
            rounds, progress, searcher = build_tuner(spec, store, study_id, (study, ostorage), str(data_root),
                                                     finished, concurrent, name, out, stopper, carried, phases)
            _say(out, f"study {name}: {finished}/{spec.n_trials} finished; running {remaining} trial(s), "
                      f"{concurrent} at a time; storage {safe_url(storage)}")
            try:
                with phases.time("trials"):
                    rounds.run(remaining, stopper.stop_all)
            except Exception as exc:  # Tune wraps what a callback or the searcher raised in a TuneError
                failure = _database_failure(exc, storage)
                if failure is None:
                    raise
                raise StorageError(f"{failure}; the study stopped: resume it with `sweep resume {name}`") from None
        if signals.signum or lease.lost.is_set():  # Optuna keeps them running: a resume continues them
            why = signals.reason if signals.signum else "this driver lost the study's lease"
            closed = store.interrupt_running(study_id, f"{why}; `sweep resume {name}` continues it from its checkpoint")
        else:
            reason = "the driver stopped before this trial finished"
            searcher.close_unfinished(reason)
            closed = store.fail_running(study_id, reason)
        if signals.signum:
            raise Interrupted(signals.signum, name, len(closed))
        if lease.lost.is_set():
            raise StudyBusy(f"study {name} was taken over by another driver while this one ran; this driver "
                            "stopped its trials (the study resumes from the database)")
    progress.close()
    store.update_study(study_id, phases=phases.as_dict())
    return dataclasses.replace(_outcome(store, study_id, name, spec, ran=remaining), phases=phases)


def open_study(store: Store, study_id: int, spec: Spec, name: str, storage: str, out: TextIO | None):
    """The Optuna study, with the trials a stopped driver left running ready to continue and
    failed configurations queued again; returns (study, its Optuna storage, number of trials
    already finished, the trials to continue)."""
    import optuna

    from sweep.driver import searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    row = store.study(name)
    if row.spec_yaml != spec.text or row.budget != spec.budget:
        _say(out, f"warning: study {name} was created from a different spec or budget "
                  f"({row.spec_path}, budget {row.budget}); carrying on with {spec.path}")
    ostorage = searcher.optuna_storage(storage)
    study = searcher.open_study(spec, ostorage, name)
    _settle_finished_rows(store, study_id, study)
    finished = searcher.finished_count(study)
    numbers = searcher.recover(study, ostorage, carry=spec.n_trials - finished)
    _restore_missing_rows(store, study_id, spec, study)
    store.fail_running(study_id, searcher.STALE_REASON, keep=numbers)
    carried = _carry(store, study_id, study, numbers)
    if carried:
        _say(out, f"resume: {len(carried)} trial(s) a stopped driver left running continue: "
                  + ", ".join(f"{c.number} ({c.describe()})" for c in carried))
    return study, ostorage, finished, carried


def _carry(store: Store, study_id: int, study, numbers: list[int]) -> list:
    """The :class:`~sweep.driver.searcher.Carried` trials, their rows running again with the
    epochs after their checkpoint's gone (those epochs run again)."""
    from sweep.driver.searcher import Carried

    params = {t.number: t.params for t in study.get_trials(deepcopy=False)}
    rows = {r.number: r for r in store.trials(study_id)}
    carried = []
    for n in numbers:
        row = rows[n]
        restore = row.checkpoint_uri if row.checkpoint_epoch else None
        after = row.checkpoint_epoch if restore else 0
        store.restart_trial(study_id, n, None, after_epoch=after)
        carried.append(Carried(n, params[n], restore, after))
    return carried


def _settle_finished_rows(store: Store, study_id: int, study) -> None:
    """Rows a dead driver left ``running`` whose Optuna trial it had already told COMPLETE or
    PRUNED: the driver died between Optuna's tell and our row's last write (the test results
    are written before the tell), so the row takes Optuna's state instead of failing."""
    from optuna.trial import TrialState

    from sweep.store import INTERRUPTED, RUNNING, now

    told = {TrialState.COMPLETE: COMPLETE, TrialState.PRUNED: PRUNED}
    states = {t.number: t.state for t in study.get_trials(deepcopy=False, states=tuple(told))}
    for row in store.trials(study_id):
        if row.status in (RUNNING, INTERRUPTED) and row.number in states:
            store.update_trial(study_id, row.number, status=told[states[row.number]], finished_at=now())


def _restore_missing_rows(store: Store, study_id: int, spec: Spec, study) -> None:
    """Optuna trials with no row: the driver died between Optuna's ask and the row's write.
    Each gets its row, failed with the stale reason (``recover`` failed the trial and queued
    its configuration again), so rows and Optuna's trials stay one to one."""
    from optuna.trial import TrialState

    from sweep.driver.searcher import STALE_REASON

    have = {row.number for row in store.trials(study_id)}
    for t in study.get_trials(deepcopy=False):
        if t.number in have or t.state == TrialState.WAITING:
            continue
        store.trial_queued(study_id, t.number, spec.resolve_trial(t.params))
        store.update_trial(study_id, t.number, status=FAILED, error=STALE_REASON)


def build_tuner(spec: Spec, store: Store, study_id: int, optuna_study: tuple, data_root: str, finished: int,
                max_concurrent: int, name: str, out: TextIO | None, stopper: StopAll | None = None, carried=(),
                phases: Phases | None = None):
    """The :class:`~sweep.driver.rounds.Rounds` that run the trials still missing, the progress
    printer they report to, and the searcher (which the driver asks to close what a stop left
    unfinished). ``phases``, when given, learns when the first trial starts."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from sweep.driver.callbacks import FirstTrialClock, ProgressPrinter, StoreWriter
    from sweep.driver.keeper import CheckpointKeeper
    from sweep.driver.rounds import Rounds
    from sweep.driver.searcher import OptunaSearcher
    from sweep.worker.trial import run_trial

    writer = StoreWriter(store, study_id, spec.objective, spec.objectives)
    keeper = CheckpointKeeper(store, study_id, spec.checkpoints, spec.objective)  # after the writer: it ranks rows
    searcher = OptunaSearcher(*optuna_study, spec, data_root, on_ask=writer.on_ask, carried=carried)
    writer.searcher = searcher  # a failed trial's reason reaches Optuna before it is told FAIL
    scheduler = FIFOScheduler()
    if spec.scheduler == "asha":  # metric and mode here, not in TuneConfig: one scheduler serves every round
        scheduler = ASHAScheduler(time_attr="epoch", max_t=_max_epochs(spec), grace_period=spec.asha_grace_period,
                                  reduction_factor=spec.asha_reduction_factor, metric=spec.objective.metric,
                                  mode=spec.objective.mode)
    trainable = tune.with_resources(run_trial, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
    progress = ProgressPrinter(store, study_id, spec.n_trials, finished, spec.objective, out)
    callbacks = [writer, keeper, progress] + ([FirstTrialClock(phases)] if phases is not None else [])
    rounds = Rounds(name, trainable, searcher, scheduler, max_concurrent, callbacks, stopper, spec.max_retries,
                    runs_storage())
    return rounds, progress, searcher


def runs_storage() -> str:
    """Where Tune keeps each run's trial folders and checkpoints: ``$SWEEP_RUNS`` (default
    ``.sweep/ray``), a folder or any storage URI Tune accepts (``s3://...``, a shared mount)."""
    where = os.environ.get("SWEEP_RUNS", ".sweep/ray")
    return where if "://" in where else str(Path(where).resolve())


def _database_failure(exc: BaseException, storage: str) -> StorageError | None:
    """The one-line StorageError for a database failure anywhere in ``exc``'s chain (our store's
    StorageError, or the database driver's error under Optuna's), else None."""
    seen: set[int] = set()
    chain = [exc]
    while chain:
        e = chain.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, StorageError):
            return e
        if isinstance(e, DB_ERRORS):
            return storage_error(e, storage)
        chain += [e.__cause__, e.__context__]
    return None


def _quiet_ray() -> None:
    # Our progress lines replace Tune's tables and Optuna's per-trial log lines.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # The database is the record; Tune's CSV/JSON/TensorBoard files would only duplicate it.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # Ctrl-C and SIGTERM are ours (sweep.driver.stopping): trials are closed and the study resumes.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    # Keeping one checkpoint per trial makes Tune snapshot its experiment state after each one and
    # warn that this may be slow; its state is not what a study resumes from (the database is).
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Without Tune's result files, its end-of-run analysis warns once per trial; the database has them.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # Tune times its callbacks and warns past 0.5 s; our writer's commits on a busy disk can take
    # that long, and the phase line at the end says where the time went.
    logging.getLogger("ray.tune.utils.util").setLevel(logging.ERROR)
    # A failed trial is one line of ours with its reason; Ray's 40-line traceback is in the trial's log.
    logging.getLogger("ray.tune.execution.tune_controller").setLevel(logging.CRITICAL)


def _oracle_references(store: Store, spec: Spec, data_root: Path, out: TextIO | None) -> None:
    """Families that declare an oracle STFT are read against the oracle masks: score them once
    per dataset (seconds for a 100-utterance test set) so the study's report can draw them."""
    from sweep.models import get_family

    with_oracle = [f for f in spec.families() if get_family(f).oracle_stft is not None]
    if not with_oracle:
        return
    from sweep.scoring.oracle import ensure_oracle

    rows = ensure_oracle(store, data_root, spec.n_src, spec.dataset.sample_rate, spec.train.max_eval_utterances,
                         family=with_oracle[0])
    if rows:
        _say(out, "oracle masks (closed condition, SDRi dB): "
                  + ", ".join(f"{r['mask']} {r['sdri']:.2f}" for r in rows if r["condition"] == "closed"))


def _max_epochs(spec: Spec) -> int:
    dom = spec.space.get("train.epochs")
    if dom is not None and not dom.is_fixed:
        return int(max(dom.grid_values()))
    return spec.train.epochs


def _outcome(store: Store, study_id: int, name: str, spec: Spec, ran: int) -> Outcome:
    counts = store.counts(study_id)
    complete = [t for t in store.trials(study_id) if t.status == COMPLETE]
    best = spec.objective.best(complete, lambda t: t.objective_value)
    return Outcome(name, spec.n_trials, counts[COMPLETE] + counts[PRUNED] + counts[INFEASIBLE], counts[FAILED], ran,
                   best.objective_value if best else None, spec.objective)


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


__all__ = ["launch", "Outcome", "Interrupted", "ResourceError", "spec_for_study", "no_study_message", "safe_url"]
