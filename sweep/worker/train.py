"""Training and validation loops, independent of Ray: a model, a loader, a budget."""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch.utils.data import DataLoader

from sweep.scoring.metrics import pit_si_snri_torch
from sweep.worker.precision import autocast


def train_epoch(model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                grad_clip: float, device: torch.device, max_batches: int | None = None,
                after_step: Callable[[], None] | None = None, first_step_s: list[float] | None = None,
                dtype: torch.dtype | None = None) -> float:
    """One pass over ``loader``; returns the mean training loss (the family's own objective).
    ``after_step`` runs after every ``optimizer.step()`` (the recipe's warmup and cosine,
    :meth:`sweep.worker.recipes.Recipe.after_batch`). ``first_step_s``, when given, receives the
    seconds of the first step (a compiled model compiles there). ``dtype`` is the forward pass's
    autocast dtype (:func:`sweep.worker.precision.autocast_dtype`; None: float32).

    Batches are (mixture [B, T], sources [B, S, T], names). A non-finite loss stops the trial
    with an error rather than poisoning the weights and reporting nonsense later. bf16 (CUDA's
    default; benchmarks/train_throughput.py measures the gain) needs no loss scaling, and the
    weights and optimiser stay in float32.
    """
    model.train()
    total, n = 0.0, 0
    t_first = time.perf_counter()
    for i, (mix, sources, _names) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        # Pinned host batches (the loader's pin_memory on CUDA) copy while the GPU still works.
        mix, sources = mix.to(device, non_blocking=True), sources.to(device, non_blocking=True)
        with autocast(dtype, device):
            loss = model.training_loss(mix, sources)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at batch {i}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if after_step is not None:
            after_step()
        total += float(loss.detach())
        n += 1
        if i == 0 and first_step_s is not None:
            first_step_s.append(time.perf_counter() - t_first)  # float(loss) above waited for the GPU
    return total / max(n, 1)


@torch.inference_mode()
def validate(model: torch.nn.Module, loader: DataLoader, device: torch.device,
             dtype: torch.dtype | None = None) -> float:
    """Mean permutation-invariant SI-SNRi (dB) of the model's time-domain output on ``loader``.
    The forward pass runs under training's autocast ``dtype``; the score is computed in float32
    (the test set's scores, :mod:`sweep.scoring.evaluate`, stay in full precision)."""
    model.eval()
    scores = []
    for mix, sources, _names in loader:
        mix, sources = mix.to(device, non_blocking=True), sources.to(device, non_blocking=True)
        with autocast(dtype, device):
            est = model(mix)
        scores.append(pit_si_snri_torch(est.float(), sources, mix).cpu())
    if not scores:
        return math.nan
    return float(torch.cat(scores).mean())


class Stopwatch:
    """Accumulates seconds per named phase (train / eval)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def move(self, source: str, dest: str, seconds: float) -> None:
        """Count ``seconds`` already timed under ``source`` under ``dest`` instead."""
        self.seconds[source] = self.seconds.get(source, 0.0) - seconds
        self.seconds[dest] = self.seconds.get(dest, 0.0) + seconds

    def time(self, phase: str, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0
