"""One trial, as run inside a Ray worker: config -> model -> train -> validate -> test -> report.

The worker never touches the database; it reports to Tune and the driver writes (one writer).
Each epoch reports ``epoch``, ``train_loss`` and ``valid_si_snri`` (dB) so ASHA can stop it;
the last epoch's report also carries the test rows and ``final: True``. A trial whose last
report lacks ``final`` was stopped early by the scheduler: the driver stores it as pruned.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

import models
from sweep.data.prepare import make_datasets
from sweep.data.wsj0mix import test_conditions
from sweep.evaluate import evaluate
from sweep.train import Stopwatch, train_epoch, validate


def split_config(config: dict[str, Any], fixed: dict[str, Any]) -> tuple[dict, dict]:
    """Merge searched and fixed values; return (model hyperparameters, training overrides).

    Keys are flat (``mask``, ``train.lr``); Tune may hand them back nested (``{"train": {...}}``).
    """
    flat: dict[str, Any] = dict(fixed)
    for k, v in config.items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items()})
        else:
            flat[k] = v
    model_params = {k: v for k, v in flat.items() if not k.startswith("train.")}
    train = {k[len("train."):]: v for k, v in flat.items() if k.startswith("train.")}
    return model_params, train


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_trial(config: dict[str, Any], *, family: str, fixed: dict[str, Any], train: dict[str, Any],
              n_src: int, sample_rate: int, data_root: str, seed: int,
              variants: dict[str, tuple[str, dict]] | None = None, report=None) -> None:
    """The trainable. ``train`` holds the spec's training budget; ``report`` defaults to Tune's.
    With ``variants`` (a cross-family study) the ``variant`` key picks family and parameters."""
    if report is None:
        from ray import tune

        report = tune.report
    model_params, overrides = split_config(config, fixed)
    seed += int(model_params.pop("replicate", 0))
    if "variant" in model_params:
        family, base = (variants or {})[model_params.pop("variant")]
        model_params = {**base, **model_params}
    budget = {**train, **overrides}
    torch.set_num_threads(int(budget.get("num_threads", 1)))
    seed_everything(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model = models.build(family, model_params, n_src=n_src, sample_rate=sample_rate).to(device)
    param_count = model.param_count()
    if budget.get("compile"):
        model.compile()  # in place, so training_loss's own self(...) calls run compiled
    segment = int(round(budget["segment_s"] * sample_rate))
    train_set, valid_set = make_datasets(data_root, n_src, segment, sample_rate, seed, budget.get("dynamic_mixing"))
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=int(budget["batch_size"]), shuffle=True, drop_last=True,
                              generator=generator)
    valid_loader = DataLoader(valid_set, batch_size=int(budget["batch_size"]))
    max_batches = None
    if budget.get("max_train_mixtures"):
        max_batches = max(1, int(budget["max_train_mixtures"]) // int(budget["batch_size"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(budget["lr"]),
                                 weight_decay=float(budget.get("weight_decay", 0.0)))

    clock = Stopwatch()
    t0 = time.perf_counter()
    epochs = int(budget["epochs"])
    for epoch in range(1, epochs + 1):
        train_set.set_epoch(epoch)
        loss = clock.time("train", train_epoch, model, train_loader, optimizer, float(budget["grad_clip"]),
                          device, max_batches)
        valid = clock.time("train", validate, model, valid_loader, device)
        metrics: dict[str, Any] = {"epoch": epoch, "train_loss": loss, "valid_si_snri": valid,
                                   "param_count": param_count, "device": str(device),
                                   "elapsed_s": time.perf_counter() - t0}
        if epoch == epochs:
            rows = clock.time("eval", evaluate, model, test_conditions(data_root), n_src, sample_rate, device,
                              budget.get("max_eval_utterances"))
            metrics.update(final=True, results=rows, train_s=clock.seconds.get("train", 0.0),
                           eval_s=clock.seconds.get("eval", 0.0))
        report(metrics)
