"""One trial, as run inside a Ray worker: plan -> model -> train -> validate -> test -> report.

The worker never touches the database; it reports to Tune and the driver writes (one writer).
Each epoch reports every key of :data:`sweep.objective.EPOCH_METRICS` (``train_loss``,
``valid_si_snri`` in dB) so ASHA can stop it; the last epoch's report also carries the test
rows and ``final: True``. A trial whose last report lacks ``final`` was stopped early by the
scheduler: the driver stores it as pruned.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from sweep import models
from sweep.data.prepare import make_datasets
from sweep.data.wsj0mix import test_conditions
from sweep.plan import TrialPlan
from sweep.scoring.evaluate import evaluate
from sweep.store.runtime import device_name
from sweep.worker.train import Stopwatch, train_epoch, validate

Report = Callable[[dict[str, Any]], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_trial(config: dict[str, Any], report: Report | None = None) -> None:
    """The Tune trainable: ``config["plan"]`` is the :class:`TrialPlan` the driver resolved.
    ``report`` defaults to Tune's."""
    if report is None:
        from ray import tune

        report = tune.report
    run_plan(config["plan"], report)


def _loaders(plan: TrialPlan) -> tuple[Any, DataLoader, DataLoader, int | None]:
    """(train set, train loader, valid loader, batches per epoch or None for all)."""
    t = plan.train
    segment = int(round(t.segment_s * plan.sample_rate))
    train_set, valid_set = make_datasets(plan.data_root, plan.n_src, segment, plan.sample_rate, plan.seed,
                                         t.dynamic_mixing)
    generator = torch.Generator().manual_seed(plan.seed)
    train_loader = DataLoader(train_set, batch_size=t.batch_size, shuffle=True, drop_last=True, generator=generator)
    valid_loader = DataLoader(valid_set, batch_size=t.batch_size)
    max_batches = max(1, t.max_train_mixtures // t.batch_size) if t.max_train_mixtures else None
    return train_set, train_loader, valid_loader, max_batches


def node_name() -> str:
    """``host:ray-node-id`` (the id's first 12 hex digits) of the node running this trial;
    two raylets on one host are two nodes."""
    import socket

    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # noqa: BLE001 - outside Ray (tests, benchmarks) there is no node id
        node = "local"
    return f"{socket.gethostname()}:{node}"


def run_plan(plan: TrialPlan, report: Report) -> None:
    """Train ``plan`` for its epochs, validating after each; test after the last."""
    t = plan.train
    torch.set_num_threads(t.num_threads)
    seed_everything(plan.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = models.build(plan.family, plan.model_params, n_src=plan.n_src, sample_rate=plan.sample_rate).to(device)
    param_count = model.param_count()
    if t.compile:
        model.compile()  # in place, so training_loss's own self(...) calls run compiled
    train_set, train_loader, valid_loader, max_batches = _loaders(plan)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    about = {"param_count": param_count, "device": device.type, "device_name": device_name(str(device)),
             "torch_version": torch.__version__, "node": node_name()}
    clock = Stopwatch()
    t0 = time.perf_counter()
    for epoch in range(1, t.epochs + 1):
        train_set.set_epoch(epoch)
        loss = clock.time("train", train_epoch, model, train_loader, optimizer, t.grad_clip, device, max_batches)
        valid = clock.time("train", validate, model, valid_loader, device)
        metrics: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "valid_si_snri": valid,
                                   "elapsed_s": time.perf_counter() - t0, **about}
        if epoch == t.epochs:
            rows = clock.time("eval", evaluate, model, test_conditions(plan.data_root), plan.n_src,
                              plan.sample_rate, device, t.max_eval_utterances)
            metrics.update(final=True, results=rows, train_s=clock.seconds.get("train", 0.0),
                           eval_s=clock.seconds.get("eval", 0.0))
        report(metrics)
