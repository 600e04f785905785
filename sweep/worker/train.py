"""Training and validation loops, independent of Ray: a model, a loader, a budget."""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch.utils.data import DataLoader

from sweep.scoring.metrics import pit_si_snri_torch


def train_epoch(model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                grad_clip: float, device: torch.device, max_batches: int | None = None,
                after_step: Callable[[], None] | None = None) -> float:
    """One pass over ``loader``; returns the mean training loss (the family's own objective).
    ``after_step`` runs after every ``optimizer.step()`` (the recipe's warmup and cosine,
    :meth:`sweep.worker.recipes.Recipe.after_batch`).

    Batches are (mixture [B, T], sources [B, S, T], names). A non-finite loss stops the trial
    with an error rather than poisoning the weights and reporting nonsense later. On CUDA the
    forward pass runs under bf16 autocast (benchmarks/train_throughput.py measures the gain);
    bf16 needs no loss scaling, and the weights and optimiser stay in float32.
    """
    model.train()
    total, n = 0.0, 0
    for i, (mix, sources, _names) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        mix, sources = mix.to(device), sources.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
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
    return total / max(n, 1)


@torch.no_grad()
def validate(model: torch.nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Mean permutation-invariant SI-SNRi (dB) of the model's time-domain output on ``loader``."""
    model.eval()
    scores = []
    for mix, sources, _names in loader:
        mix, sources = mix.to(device), sources.to(device)
        est = model(mix)
        scores.append(pit_si_snri_torch(est, sources, mix).cpu())
    if not scores:
        return math.nan
    return float(torch.cat(scores).mean())


class Stopwatch:
    """Accumulates seconds per named phase (train / eval)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, phase: str, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0
