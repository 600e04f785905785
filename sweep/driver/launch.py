"""The driver: one process that hosts the Optuna study (through :class:`OptunaSearcher`), runs
the trials on Ray workers, and writes the database (Optuna's tables and ours).

``launch`` both starts and resumes a study in three steps: :func:`open_study` (claim it, close
what a dead driver left running, count what is finished), :func:`build_tuner` (searcher,
scheduler, trainable, callbacks) and the run itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from ray.tune import Stopper

from sweep.data.cache import check_data, data_root_for
from sweep.objective import Objective
from sweep.spec import Spec
from sweep.store import COMPLETE, FAILED, PRUNED, Lease, Store, StudyBusy

log = logging.getLogger("sweep")


class ResourceError(RuntimeError):
    """The trials ask for resources this machine (or cluster) cannot give."""


@dataclasses.dataclass
class Outcome:
    study: str
    planned: int
    finished: int
    failed: int
    ran: int
    best: float | None  # the best objective value of a complete trial
    objective: Objective = dataclasses.field(default_factory=Objective)


def safe_url(url: str) -> str:
    """The storage URL with its password hidden, for anything printed."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is printed without its userinfo
        return url.split("@")[-1]


def launch(spec: Spec, storage: str, study_name: str | None = None, max_concurrent: int | None = None,
           ray_address: str | None = None, out: TextIO | None = sys.stderr) -> Outcome:
    """Run (or resume) ``spec`` until the study has ``spec.n_trials`` finished trials."""
    _quiet_ray()
    name = study_name or spec.study
    _check_gpus(spec, ray_address)
    data_plan = check_data(spec)  # bad data stops here, before the store writes anything
    store = Store(storage)
    study_id = store.ensure_study(name, spec).id
    with Lease(store, study_id) as lease:  # before recover(): a live driver's trials are not stale
        study, finished = open_study(store, study_id, spec, name, storage, out)
        remaining = spec.n_trials - finished
        if remaining <= 0:
            _say(out, f"study {name}: {finished}/{spec.n_trials} trials already finished; nothing to run")
            return _outcome(store, study_id, name, spec, ran=0)
        data_root = data_root_for(spec, out, data_plan)
        store.set_study_data_root(study_id, str(Path(data_root).resolve()))
        _oracle_references(store, spec, data_root, out)
        _init_ray(ray_address)
        concurrent = max_concurrent or spec.max_concurrent
        tuner, progress = build_tuner(spec, store, study_id, study, str(data_root), remaining, finished, concurrent,
                                      name, out, lease)
        _say(out, f"study {name}: {finished}/{spec.n_trials} finished; running {remaining} trial(s), "
                  f"{concurrent} at a time; storage {safe_url(storage)}")
        tuner.fit()
        if lease.lost.is_set():
            raise StudyBusy(f"study {name} was taken over by another driver while this one ran; this driver "
                            "stopped its trials (the study resumes from the database)")
    progress.close()
    return _outcome(store, study_id, name, spec, ran=remaining)


def open_study(store: Store, study_id: int, spec: Spec, name: str, storage: str, out: TextIO | None):
    """The Optuna study, with a dead driver's running trials closed and their configurations
    queued again; returns (study, number of trials already finished)."""
    import optuna

    from sweep.driver import searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    row = store.study(name)
    if row.spec_yaml != spec.text or row.budget != spec.budget:
        _say(out, f"warning: study {name} was created from a different spec or budget "
                  f"({row.spec_path}, budget {row.budget}); carrying on with {spec.path}")
    ostorage = searcher.optuna_storage(storage)
    study = searcher.open_study(spec, ostorage, name)
    closed = searcher.recover(study, ostorage)
    store.fail_running(study_id, searcher.STALE_REASON)
    if closed:
        _say(out, f"resume: {len(closed)} trial(s) left running by a stopped driver marked failed "
                  f"(numbers {closed}); their configurations run again")
    return study, searcher.finished_count(study)


def build_tuner(spec: Spec, store: Store, study_id: int, study, data_root: str, remaining: int, finished: int,
                max_concurrent: int, name: str, out: TextIO | None, lease: Lease | None = None):
    """The Tune ``Tuner`` for the trials still missing, and the progress printer it reports to."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    from sweep.driver.callbacks import ProgressPrinter, StoreWriter
    from sweep.driver.searcher import OptunaSearcher
    from sweep.worker.trial import run_trial

    writer = StoreWriter(store, study_id, spec.objective)
    searcher = OptunaSearcher(study, spec, data_root, on_ask=writer.on_ask)
    scheduler = FIFOScheduler()
    if spec.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=_max_epochs(spec), grace_period=spec.asha_grace_period,
                                  reduction_factor=spec.asha_reduction_factor)
    trainable = tune.with_resources(run_trial, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
    progress = ProgressPrinter(store, study_id, spec.n_trials, finished, spec.objective, out)
    runs_dir = Path(os.environ.get("SWEEP_RUNS", ".sweep/ray")).resolve()
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=max_concurrent),
                                    scheduler=scheduler, num_samples=remaining,
                                    metric=spec.objective.metric, mode=spec.objective.mode),
        run_config=tune.RunConfig(name=f"{name}-{int(time.time())}", storage_path=str(runs_dir),
                                  callbacks=[writer, progress], verbose=0, stop=_LeaseStopper(lease),
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    return tuner, progress


class _LeaseStopper(Stopper):
    """Stops every trial once another driver has taken the study over (a Tune ``Stopper``)."""

    def __init__(self, lease: Lease | None) -> None:
        self.lease = lease

    def __call__(self, trial_id: str, result: dict) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        return self.lease is not None and self.lease.lost.is_set()

    def __getstate__(self) -> dict:  # Tune pickles it into tuner.pkl; a lease does not travel
        return {"lease": None}


def _quiet_ray() -> None:
    # Our progress lines replace Tune's tables and Optuna's per-trial log lines.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # The database is the record; Tune's CSV/JSON/TensorBoard files would only duplicate it.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


def _check_gpus(spec: Spec, ray_address: str | None) -> None:
    if ray_address or spec.gpus_per_trial <= 0:
        return
    import torch

    if torch.cuda.device_count() < spec.gpus_per_trial:
        # A local Ray cluster would queue such trials forever; say so before anything is written.
        raise ResourceError(f"each trial asks for {spec.gpus_per_trial:g} GPU(s) (resources.gpu) but this "
                            f"machine has {torch.cuda.device_count()}; use the cpu budget or --ray-address")


def _init_ray(ray_address: str | None) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False,
                 **({} if ray_address else {"num_cpus": os.cpu_count()}))


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
    return Outcome(name, spec.n_trials, counts[COMPLETE] + counts[PRUNED], counts[FAILED], ran,
                   best.objective_value if best else None, spec.objective)


def _say(out: TextIO | None, text: str) -> None:
    if out is not None:
        print(text, file=out, flush=True)


def spec_for_study(store: Store, name: str) -> Spec:
    """Re-read the spec stored with a study (so ``sweep resume NAME`` needs no file)."""
    from sweep.spec import parse_spec

    row = store.study(name)
    if row is None:
        raise KeyError(no_study_message(store, name))
    return parse_spec(row.spec_yaml, row.spec_path, row.budget)


def no_study_message(store: Store, name: str) -> str:
    known = ", ".join(s.name for s in store.studies()) or "none"
    return f"no study named {name!r} in this database (known: {known})"


__all__ = ["launch", "Outcome", "ResourceError", "spec_for_study", "no_study_message", "safe_url"]
