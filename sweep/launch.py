"""The driver: one process that hosts Optuna (through Ray Tune's OptunaSearch), runs the trials on
Ray workers, and is the only writer of the database (Optuna's tables and ours).

``launch`` both starts and resumes a study: it closes what a dead driver left running, counts
the trials already finished, and runs only the ones still missing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from sweep.spec import Spec
from sweep.store import COMPLETE, FAILED, PRUNED, Store, StudyBusy, driver_id, now  # noqa: F401

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
    best: float | None


def check_data(spec: Spec):
    """Check the spec's corpus (every file header) before anything is written; returns the
    :class:`sweep.data.check.DataPlan`, or None for the embedded default (generated, so valid).

    Raises:
        sweep.data.check.DataError: one line, starting with the offending path.
    """
    if spec.dataset.kind == "default":
        return None
    from sweep.data.check import check_dataset

    return check_dataset(spec.dataset, spec.n_src)


def data_root_for(spec: Spec, progress: TextIO | None = sys.stderr, plan=None) -> Path:
    """The folder a trial reads (wsj0-2mix layout + ``dataset.json``; see sweep.data.prepare):
    builds the embedded default, or the fixed sets / links of other kinds, when not cached."""
    ds = spec.dataset
    if ds.kind != "default":
        from sweep.data.prepare import prepare_dataset

        plan = plan or check_data(spec)
        return prepare_dataset(plan, default_data_dir(), _stage_printer(progress))
    from sweep.data.synth import make_default_dataset

    root = Path(ds.root) if ds.root else default_data_dir() / f"default-seed{ds.seed}-{ds.n_train}-{ds.n_valid}-{ds.n_test}"
    return make_default_dataset(root, seed=ds.seed, n_train=ds.n_train, n_valid=ds.n_valid, n_test=ds.n_test,
                                progress=_stage_printer(progress)).resolve()


def default_data_dir() -> Path:
    return Path(os.environ.get("SWEEP_DATA", "data")).expanduser()


def _stage_printer(out: TextIO | None):
    last = {"t": 0.0}

    def show(stage: str, done: int, total: int) -> None:
        if out is None:
            return
        t = time.monotonic()
        if done == total or t - last["t"] > 2.0:
            last["t"] = t
            print(f"  data: {stage} {done}/{total}", file=out, flush=True)

    return show


def launch(spec: Spec, storage: str, study_name: str | None = None, max_concurrent: int | None = None,
           ray_address: str | None = None, out: TextIO | None = sys.stderr) -> Outcome:
    """Run (or resume) ``spec`` until the study has ``spec.n_trials`` finished trials."""
    # Our progress lines replace Tune's tables and Optuna's per-trial log lines.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # The database is the record; Tune's CSV/JSON/TensorBoard files would only duplicate it.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    import optuna
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter

    from sweep import search
    from sweep.progress import Progress, StoreWriter
    from sweep.trial import run_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name or spec.study
    if not ray_address and spec.gpus_per_trial > 0:
        import torch

        if torch.cuda.device_count() < spec.gpus_per_trial:
            # A local Ray cluster would queue such trials forever; say so before anything is written.
            raise ResourceError(f"each trial asks for {spec.gpus_per_trial:g} GPU(s) (resources.gpu) but this "
                                f"machine has {torch.cuda.device_count()}; use the cpu budget or --ray-address")
    plan = check_data(spec)  # bad data stops here, before the store writes anything
    store = Store(storage)
    ostorage = search.optuna_storage(storage)
    study_row = store.ensure_study(name, spec)
    me = driver_id()
    store.claim_study(study_row.id, me)  # before recover(): a live driver's trials are not stale
    if out and (study_row.spec_yaml != spec.text or study_row.budget != spec.budget):
        print(f"warning: study {name} was created from a different spec or budget "
              f"({study_row.spec_path}, budget {study_row.budget}); carrying on with {spec.path}", file=out, flush=True)
    direction = "maximize" if spec.objective_mode == "max" else "minimize"
    ostudy = optuna.create_study(storage=ostorage, study_name=name, direction=direction,
                                 sampler=search.make_sampler(spec), load_if_exists=True)
    closed = search.recover(ostudy)
    store.fail_running(study_row.id, search.STALE_REASON)
    if closed and out:
        print(f"resume: {len(closed)} trial(s) left running by a stopped driver marked failed "
              f"(numbers {closed}); their configurations run again", file=out, flush=True)
    finished = search.finished_count(ostudy)
    remaining = spec.n_trials - finished
    if remaining <= 0:
        if out:
            print(f"study {name}: {finished}/{spec.n_trials} trials already finished; nothing to run", file=out)
        store.release_study(study_row.id, me)
        return _outcome(store, study_row.id, name, spec, ran=0)

    data_root = data_root_for(spec, out, plan)
    _oracle_references(store, study_row.id, spec, data_root, out)
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False,
                 **({} if ray_address else {"num_cpus": os.cpu_count()}))

    writer = StoreWriter(store, study_row.id, spec)
    searcher = search.SweepSearch(
        space={k: d.to_optuna() for k, d in spec.searched().items()},
        metric=spec.objective_metric, mode=spec.objective_mode, sampler=search.make_sampler(spec),
        storage=ostorage, study_name=name, seed=spec.seed, on_ask=writer.on_ask)
    limiter = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent or spec.max_concurrent)
    if spec.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=_max_epochs(spec), grace_period=spec.asha_grace_period,
                                  reduction_factor=spec.asha_reduction_factor)
    else:
        scheduler = FIFOScheduler()
    trainable = tune.with_parameters(
        run_trial, family=spec.family, fixed=spec.fixed(), train=dataclasses.asdict(spec.train),
        n_src=spec.n_src, sample_rate=spec.dataset.sample_rate, data_root=str(data_root), seed=spec.seed,
        variants=spec.variants)
    trainable = tune.with_resources(trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
    progress = Progress(store, study_row.id, spec.n_trials, finished, out, driver=me)
    runs_dir = Path(os.environ.get("SWEEP_RUNS", ".sweep/ray")).resolve()
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=limiter, scheduler=scheduler, num_samples=remaining,
                                    metric=spec.objective_metric, mode=spec.objective_mode),
        run_config=tune.RunConfig(name=f"{name}-{int(time.time())}", storage_path=str(runs_dir),
                                  callbacks=[writer, progress], verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=0)),
    )
    if out:
        print(f"study {name}: {finished}/{spec.n_trials} finished; running {remaining} trial(s), "
              f"{max_concurrent or spec.max_concurrent} at a time; storage {storage}", file=out, flush=True)
    try:
        tuner.fit()
    finally:
        store.release_study(study_row.id, me)
    progress.close()
    return _outcome(store, study_row.id, name, spec, ran=remaining)


def _oracle_references(store: Store, study_id: int, spec: Spec, data_root: Path, out: TextIO | None) -> None:
    """Mask families are read against the oracle masks: score them once per dataset (seconds
    for a 100-utterance test set) so the study's report can draw them."""
    store.set_study_data_root(study_id, str(Path(data_root).resolve()))
    families = {spec.family, *(f for f, _ in (spec.variants or {}).values())}
    if "upit" not in families:
        return
    from sweep.oracle import ensure_oracle

    rows = ensure_oracle(store, data_root, spec.n_src, spec.dataset.sample_rate, spec.train.max_eval_utterances)
    if rows and out:
        print("oracle masks (closed condition, SDRi dB): "
              + ", ".join(f"{r['mask']} {r['sdri']:.2f}" for r in rows if r["condition"] == "closed"),
              file=out, flush=True)


def _max_epochs(spec: Spec) -> int:
    dom = spec.space.get("train.epochs")
    if dom is not None and not dom.is_fixed:
        return int(max(dom.grid_values()))
    return spec.train.epochs


def _outcome(store: Store, study_id: int, name: str, spec: Spec, ran: int) -> Outcome:
    counts = store.counts(study_id)
    best = [t.valid_si_snri for t in store.trials(study_id) if t.status == COMPLETE and t.valid_si_snri is not None]
    return Outcome(name, spec.n_trials, counts[COMPLETE] + counts[PRUNED], counts[FAILED], ran,
                   max(best) if best else None)


def spec_for_study(store: Store, name: str) -> Spec:
    """Re-read the spec stored with a study (so ``sweep resume NAME`` needs no file)."""
    from sweep.spec import parse_spec

    row = store.study(name)
    if row is None:
        known = ", ".join(s.name for s in store.studies()) or "none"
        raise KeyError(f"no study named {name!r} in this database (known: {known})")
    return parse_spec(row.spec_yaml, row.spec_path, row.budget)


__all__ = ["launch", "Outcome", "spec_for_study", "data_root_for", "check_data", "now"]
