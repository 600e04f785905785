"""One trial, as run inside a Ray worker: plan -> model -> train -> validate -> test -> report.

The worker never touches the database; it reports to Tune and the driver writes (one writer).
Each epoch reports every key of :data:`sweep.objective.EPOCH_METRICS` (``train_loss``,
``valid_si_snri`` in dB) so ASHA can stop it, with a checkpoint (:mod:`sweep.checkpoints`):
the latest training state and the best-validation weights. The last epoch (the budget's, or
the one early stopping chose) also carries the test rows, scored with the best-validation
weights as the papers report, and ``final: True``. A trial whose last report lacks ``final``
was stopped early by the scheduler: the driver stores it as pruned.

A trial that finds a checkpoint (Tune's, after a retry; or ``config["restore"]``, the one the
driver recorded before it was interrupted) continues after its epoch, exactly as if it had
never stopped: every random state is restored with the weights.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from sweep import checkpoints, models
from sweep.checkpoints import BestWeights, ModelCard
from sweep.data.prepare import make_datasets
from sweep.data.wsj0mix import test_conditions
from sweep.plan import TrialPlan
from sweep.scoring.evaluate import evaluate
from sweep.store.runtime import code_version, device_name
from sweep.worker.peaks import PeakMemory
from sweep.worker.precision import autocast_dtype
from sweep.worker.recipes import Recipe
from sweep.worker.train import Stopwatch, train_epoch, validate

Report = Callable[..., None]  # report(metrics) or, when checkpointing, report(metrics, folder)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_trial(config: dict[str, Any], report: Report | None = None) -> None:
    """The Tune trainable: ``config["plan"]`` is the :class:`TrialPlan` the driver resolved,
    ``config["restore"]`` (optional) a checkpoint to continue from when Tune has none."""
    from ray import tune

    if config.get("infeasible"):  # a broken constraint, found and told at ask: nothing to train
        (report or _tune_report)({"epoch": 0, "infeasible": config["infeasible"]["reason"],
                                  "param_count": config["infeasible"]["param_count"],
                                  "valid_si_snri": float("nan"), "train_loss": float("nan")})
        return
    identity = {"study": config.get("study"), "trial": config.get("number")}
    tuned = tune.get_checkpoint()
    if tuned is not None:
        with tuned.as_directory() as folder:
            run_plan(config["plan"], report or _tune_report, checkpointing=True, resume_from=Path(folder),
                     identity=identity)
        return
    with _restore_source(config.get("restore")) as folder:
        run_plan(config["plan"], report or _tune_report, checkpointing=True, resume_from=folder, identity=identity)


@contextlib.contextmanager
def _restore_source(uri: str | None) -> Iterator[Path | None]:
    """A local copy of the checkpoint at ``uri``; None when there is none (or it was deleted)."""
    if not uri:
        yield None
        return
    try:
        with checkpoints.local_copy(uri) as folder:
            yield folder
    except FileNotFoundError:
        yield None


def _tune_report(metrics: dict[str, Any], folder: Path | None = None) -> None:
    from ray import tune

    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(folder)) if folder else None)


def _loaders(plan: TrialPlan) -> tuple[Any, DataLoader, DataLoader, int, torch.Generator]:
    """(train set, train loader, valid loader, batches per epoch, the loader's shuffling generator)."""
    t = plan.train
    segment = int(round(t.segment_s * plan.sample_rate))
    train_set, valid_set = make_datasets(plan.data_root, plan.n_src, segment, plan.sample_rate, plan.seed,
                                         t.dynamic_mixing)
    generator = torch.Generator().manual_seed(plan.seed)
    pin = torch.cuda.is_available()  # page-locked batches: host-to-device copies overlap the GPU's work
    train_loader = DataLoader(train_set, batch_size=t.batch_size, shuffle=True, drop_last=True, generator=generator,
                              pin_memory=pin)
    valid_loader = DataLoader(valid_set, batch_size=t.batch_size, pin_memory=pin)
    batches = len(train_loader)
    if t.max_train_mixtures:
        batches = min(batches, max(1, t.max_train_mixtures // t.batch_size))
    return train_set, train_loader, valid_loader, max(batches, 1), generator


def node_name() -> str:
    """``host:ray-node-id`` (the id's first 12 hex digits) of the node running this trial;
    two raylets on one host are two nodes."""
    import socket

    node = "local"  # outside Ray (tests, benchmarks) there is no node id
    try:
        import ray

        if ray.is_initialized():  # asking the runtime context otherwise starts a Ray instance
            node = ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # noqa: BLE001 - Ray's runtime context varies across releases
        pass
    return f"{socket.gethostname()}:{node}"


@dataclass
class _Progress:
    """What a trial carries from epoch to epoch, and into its checkpoint."""

    epoch: int = 0  # the last finished epoch
    best: BestWeights = field(default_factory=BestWeights)
    history: dict[int, dict[str, float]] = field(default_factory=dict)  # epoch -> train_loss, valid_si_snri
    elapsed_s: float = 0.0  # seconds of earlier runs of this trial
    seconds: dict[str, float] = field(default_factory=dict)  # the Stopwatch's phases, earlier runs
    peaks: dict[str, float] = field(default_factory=dict)  # peak_rss_mb / peak_gpu_mb so far (MiB)


def run_plan(plan: TrialPlan, report: Report, checkpointing: bool = False, resume_from: Path | None = None,
             identity: dict[str, Any] | None = None) -> None:
    """Train ``plan`` for its epochs (or until early stopping), validating after each; test the
    best-validation weights after the last. With ``checkpointing``, every report also hands a
    checkpoint folder; ``resume_from`` (a checkpoint folder) continues after its epoch."""
    t = plan.train
    torch.set_num_threads(t.num_threads)
    seed_everything(plan.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = autocast_dtype(t.precision, device)
    peaks = PeakMemory(device)  # reset before the model and the data are loaded: they count
    model = models.build(plan.family, plan.model_params, n_src=plan.n_src, sample_rate=plan.sample_rate).to(device)
    card = ModelCard(plan.family, dict(plan.model_params), plan.n_src, plan.sample_rate, model.param_count(),
                     code_version=code_version(), **(identity or {}))
    train_set, train_loader, valid_loader, batches, generator = _loaders(plan)
    recipe = Recipe(model.parameters(), t, batches)
    progress = _restore(resume_from, model, recipe, generator) if resume_from else _Progress()
    if t.compile:
        model.compile()  # in place, so training_loss's own self(...) calls run compiled
    about = {"param_count": card.param_count, "device": device.type, "device_name": device_name(str(device)),
             "torch_version": torch.__version__, "node": node_name()}
    clock = Stopwatch()
    clock.seconds.update(progress.seconds)
    peaks.earlier = progress.peaks
    t0 = time.perf_counter() - progress.elapsed_s
    epoch = progress.epoch
    # A checkpoint of a trial whose last epoch was done (its final report was lost) only tests.
    while not (epoch and (epoch >= t.epochs or recipe.should_stop)):
        epoch += 1
        train_set.set_epoch(epoch)
        first_step = [] if t.compile and "compile" not in clock.seconds else None  # compiles on its first step
        loss = clock.time("train", train_epoch, model, train_loader, recipe.optimizer, t.grad_clip, device, batches,
                          recipe.after_batch, first_step_s=first_step, dtype=dtype)
        if first_step:
            clock.move("train", "compile", first_step[0])
        valid = clock.time("valid", validate, model, valid_loader, device, dtype)
        recipe.after_epoch(valid)
        progress.best.offer(epoch, valid, model)
        progress.epoch, progress.history[epoch] = epoch, {"train_loss": loss, "valid_si_snri": valid}
        progress.elapsed_s, progress.seconds = time.perf_counter() - t0, dict(clock.seconds)
        progress.peaks = peaks.read()
        if epoch < t.epochs and not recipe.should_stop:
            _report(report, {"epoch": epoch, **progress.history[epoch], **about, **progress.peaks}, progress,
                    _checkpoint(checkpointing, card, progress, model, recipe, generator))
    metrics = {"epoch": epoch, **progress.history[epoch], **about}
    final = lambda: _final(plan, model, progress, clock, device, peaks)  # noqa: E731 - after the checkpoint is written
    _report(report, metrics, progress, _checkpoint(checkpointing, card, progress, model, recipe, generator), final)
    peaks.close()


def _report(report: Report, metrics: dict[str, Any], progress: _Progress, checkpoint, final=None) -> None:
    """Report one epoch (with its checkpoint folder when checkpointing; ``final`` adds the test)."""
    metrics.update(elapsed_s=progress.elapsed_s, best_epoch=progress.best.epoch)
    with checkpoint as folder:
        if final is not None:
            metrics.update(final())
        report(metrics, folder) if folder is not None else report(metrics)


def _final(plan: TrialPlan, model: torch.nn.Module, progress: _Progress, clock: Stopwatch,
           device: torch.device, peaks: PeakMemory) -> dict[str, Any]:
    """The last report's extra keys: test rows of the best-validation weights, the epoch
    metrics of the epoch those weights are from (``selected``: what the trial is ranked by),
    seconds per phase and peak memory (test scoring included)."""
    model.load_state_dict(progress.best.model)
    rows = clock.time("eval", evaluate, model, test_conditions(plan.data_root), plan.n_src, plan.sample_rate,
                      device, plan.train.max_eval_utterances)
    return {"final": True, "results": rows, "selected": progress.history[progress.best.epoch],
            # train_s includes validation (as its column always has); valid_s is that part.
            "train_s": clock.seconds.get("train", 0.0) + clock.seconds.get("valid", 0.0),
            "valid_s": clock.seconds.get("valid", 0.0), "eval_s": clock.seconds.get("eval", 0.0),
            "compile_s": clock.seconds.get("compile"), **peaks.read()}


@contextlib.contextmanager
def _checkpoint(enabled: bool, card: ModelCard, progress: _Progress, model: torch.nn.Module, recipe: Recipe,
                generator: torch.Generator) -> Iterator[Path | None]:
    """A temporary checkpoint folder of the trial's state now (None when not checkpointing);
    Tune copies it into the study's run folder while reporting, then it is removed."""
    if not enabled:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="sweep-ckpt-"))
    try:
        state = {"epoch": progress.epoch, "model": model.state_dict(), "recipe": recipe.state_dict(),
                 "rng": checkpoints.rng_state(generator), "history": progress.history,
                 "elapsed_s": progress.elapsed_s, "seconds": progress.seconds, "peaks": progress.peaks}
        checkpoints.write(folder, card, progress.best, state)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _restore(folder: Path, model: torch.nn.Module, recipe: Recipe, generator: torch.Generator) -> _Progress:
    """Load a checkpoint's training state into ``model``, ``recipe`` and ``generator``."""
    saved = checkpoints.read_state(folder)
    if saved is None:  # a finished trial's weights-only checkpoint: nothing to continue from
        return _Progress()
    state, best = saved
    model.load_state_dict(state["model"])
    recipe.load_state_dict(state["recipe"])
    checkpoints.set_rng_state(state["rng"], generator)
    return _Progress(int(state["epoch"]), best, dict(state["history"]), float(state["elapsed_s"]),
                     dict(state["seconds"]), dict(state.get("peaks", {})))
