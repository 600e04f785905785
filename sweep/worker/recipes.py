"""Training recipes: the optimizer, the learning-rate schedule and early stopping of one trial.

A :class:`Recipe` is built from the ``train`` keys of a spec (:class:`~sweep.spec.TrainSpec`) and
driven by the training loop: :meth:`Recipe.after_batch` after every optimizer step and
:meth:`Recipe.after_epoch` with the epoch's validation SI-SNRi (dB, higher is better).

The learning rate of the next optimizer step is ``lr × warmup × decay``:

- **warmup** (``warmup_steps: N``, any schedule): step ``k`` (1-based) of the first ``N`` uses
  ``k / N`` of the rate, so step ``N`` is the first at the full rate.
- **decay** (``schedule``), floored at ``min_lr``:

  - ``none``: constant (the default, and the behaviour before recipes existed);
  - ``plateau``: multiply by ``lr_factor`` (default 0.5, halving) once ``lr_patience``
    consecutive epochs have not beaten the best validation SI-SNRi, then count again from zero.
    Epochs up to ``plateau_start_epoch`` are not counted (SepFormer: none before epoch 85);
  - ``step``: multiply by ``lr_factor`` after every ``lr_step_epochs`` epochs (DPRNN: 0.98
    every 2 epochs);
  - ``cosine``: from ``lr`` down to ``min_lr`` along half a cosine, step by step, over the
    ``epochs × batches_per_epoch`` steps that follow the warmup.

Early stopping (``early_stop_patience: N``, 0 = off) says stop once ``N`` consecutive epochs
have not beaten the best validation SI-SNRi. A NaN validation score never counts as a gain.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

import torch

from sweep.spec import CHOICE_TRAIN_KEYS

if TYPE_CHECKING:  # pragma: no cover
    from sweep.spec import TrainSpec

SCHEDULES: tuple[str, ...] = CHOICE_TRAIN_KEYS["schedule"]
OPTIMIZERS: tuple[str, ...] = CHOICE_TRAIN_KEYS["optimizer"]
_FORMAT = 1  # version of state_dict()'s layout


def build_optimizer(params: Iterable[torch.nn.Parameter], train: "TrainSpec") -> torch.optim.Optimizer:
    """``adam`` (weight decay as an L2 term in the gradient, torch's Adam) or ``adamw``
    (decoupled weight decay); both at ``train.lr`` with ``train.weight_decay``."""
    if train.optimizer == "adam":
        return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)
    if train.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    raise ValueError(f"unknown optimizer {train.optimizer!r} (known: {', '.join(OPTIMIZERS)})")


class Recipe:
    """Optimizer + learning-rate schedule + early stopping, built from a TrainSpec.

    ``batches_per_epoch`` is the number of optimizer steps in one epoch; the cosine schedule
    spans ``train.epochs`` of them."""

    def __init__(self, params: Iterable[torch.nn.Parameter], train: "TrainSpec", batches_per_epoch: int) -> None:
        if train.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {train.schedule!r} (known: {', '.join(SCHEDULES)})")
        if batches_per_epoch < 1:
            raise ValueError(f"batches_per_epoch must be >= 1, got {batches_per_epoch}")
        self.train = train
        self.batches_per_epoch = int(batches_per_epoch)
        self.optimizer = build_optimizer(params, train)
        self._steps = 0  # optimizer steps taken
        self._epochs = 0  # epochs finished
        self._scale = 1.0  # product of the plateau / step factors applied so far
        self._best = -math.inf  # best validation SI-SNRi (dB)
        self._since_best = 0  # epochs since the best one (early stopping)
        self._plateau = 0  # counted epochs without a gain since the last plateau decay
        self._apply()

    # -- the training loop's calls -------------------------------------------------------------

    def after_batch(self) -> None:
        """One optimizer step was taken: advance the warmup and the cosine."""
        self._steps += 1
        self._apply()

    def after_epoch(self, valid_si_snri: float) -> None:
        """One epoch was finished with this validation SI-SNRi (dB; higher is better)."""
        t = self.train
        self._epochs += 1
        gain = math.isfinite(valid_si_snri) and valid_si_snri > self._best
        if gain:
            self._best, self._since_best = float(valid_si_snri), 0
        else:
            self._since_best += 1
        if t.schedule == "plateau" and self._epochs > t.plateau_start_epoch:
            self._plateau = 0 if gain else self._plateau + 1
            if self._plateau >= t.lr_patience:
                self._scale *= t.lr_factor
                self._plateau = 0
        elif t.schedule == "step" and self._epochs % t.lr_step_epochs == 0:
            self._scale *= t.lr_factor
        self._apply()

    @property
    def should_stop(self) -> bool:
        """Early stopping says stop: ``early_stop_patience`` epochs in a row without a gain."""
        patience = self.train.early_stop_patience
        return patience > 0 and self._since_best >= patience

    @property
    def lr(self) -> float:
        """The learning rate the next optimizer step uses."""
        return float(self.optimizer.param_groups[0]["lr"])

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Optimizer, schedule and early-stopping state (plain numbers and the optimizer's tensors).

        Like torch's, the optimizer part holds references to live tensors: save it (``torch.save``)
        before training on."""
        return {"format": _FORMAT, "optimizer": self.optimizer.state_dict(), "steps": self._steps,
                "epochs": self._epochs, "scale": self._scale, "best": self._best,
                "since_best": self._since_best, "plateau": self._plateau}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`: training on is identical to never having stopped."""
        if state.get("format") != _FORMAT:
            raise ValueError(f"recipe state format {state.get('format')!r}, expected {_FORMAT}")
        self.optimizer.load_state_dict(state["optimizer"])
        self._steps, self._epochs = int(state["steps"]), int(state["epochs"])
        self._scale, self._best = float(state["scale"]), float(state["best"])
        self._since_best, self._plateau = int(state["since_best"]), int(state["plateau"])
        self._apply()

    # -- the rate ------------------------------------------------------------------------------

    def _rate(self) -> float:
        """The learning rate for optimizer step ``self._steps + 1``."""
        t = self.train
        if t.schedule == "cosine":
            span = max(1, t.epochs * self.batches_per_epoch - t.warmup_steps)
            progress = min(1.0, max(0, self._steps - t.warmup_steps) / span)
            rate = t.min_lr + (t.lr - t.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
        else:
            rate = max(t.min_lr, t.lr * self._scale)
        if self._steps < t.warmup_steps:
            rate *= (self._steps + 1) / t.warmup_steps
        return rate

    def _apply(self) -> None:
        rate = self._rate()
        for group in self.optimizer.param_groups:
            group["lr"] = rate
