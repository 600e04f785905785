"""The trials of a launch as successive rounds of ``Tuner.fit()``.

Ray Tune keeps every trial's bookkeeping (its ``Trial`` object, results and checkpoint records;
about 140 KB per trial, measured with tracemalloc in ``benchmarks/bounded_growth.py``) until
``Tuner.fit()`` returns. A study of thousands of trials in one ``fit()`` therefore grows the
driver's memory without bound. Here a launch runs its trials in rounds of at most
:data:`ROUND_TRIALS`, each a fresh ``Tuner`` over the same searcher, scheduler and callbacks, so
what Tune holds is freed after each round and the driver's memory stays flat.

The price: at the end of a round, slots idle while its last trials finish (at most about one
trial's time per round); a study of up to :data:`ROUND_TRIALS` trials runs exactly as one
``fit()``. The scheduler object is shared across rounds, so ASHA compares a trial with the
trials of earlier rounds too.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sweep.driver.cluster import ResourceError

ROUND_TRIALS = 200
"""Trials per ``Tuner.fit()``, unless ``$SWEEP_ROUND_TRIALS`` says otherwise."""


def per_round() -> int:
    """Trials per ``Tuner.fit()``: ``$SWEEP_ROUND_TRIALS`` or :data:`ROUND_TRIALS`.

    Raises:
        ResourceError: the variable is set to anything but a whole number >= 1.
    """
    value = os.environ.get("SWEEP_ROUND_TRIALS", "").strip()
    if not value:
        return ROUND_TRIALS
    if not value.isdigit() or int(value) < 1:
        raise ResourceError(f"SWEEP_ROUND_TRIALS must be a whole number >= 1, got {value!r}")
    return int(value)


def round_sizes(total: int, per_round: int = ROUND_TRIALS) -> Iterator[int]:
    """``total`` trials cut into rounds of ``per_round`` (the last one shorter)."""
    if per_round < 1:
        raise ValueError(f"per_round must be >= 1, got {per_round}")
    left = total
    while left > 0:
        yield min(left, per_round)
        left -= per_round


@dataclass
class Rounds:
    """What every round's ``Tuner`` shares.

    Attributes:
        name: the study's name (each round's Tune run folder is ``{name}-{time}-r{round}``).
        trainable: the trainable with its resources (``tune.with_resources``).
        searcher: the Optuna searcher (one Optuna study, asked across rounds).
        scheduler: FIFO or ASHA, given ``metric`` and ``mode`` at construction.
        max_concurrent: trials at a time.
        callbacks: the driver's Tune callbacks (store writer, checkpoint keeper, progress).
        stopper: Tune's ``stop`` (signals, a lost lease).
        max_failures: Tune's retries of a crashed trial from its checkpoint.
        storage_path: Tune's run folder root (``$SWEEP_RUNS``).
        per_round: trials per ``fit()``; None: :func:`per_round`.
    """

    name: str
    trainable: Any
    searcher: Any
    scheduler: Any
    max_concurrent: int
    callbacks: list
    stopper: Any
    max_failures: int
    storage_path: str
    per_round: int | None = None

    def run(self, total: int, stopped: Callable[[], bool]) -> int:
        """Run ``total`` trials in rounds until done or ``stopped()``; returns the rounds run."""
        started = int(time.time())
        done = 0
        for i, n in enumerate(round_sizes(total, self.per_round or per_round())):
            if stopped():
                break
            self.tuner(n, f"{self.name}-{started}-r{i}").fit()
            done += 1
            gc.collect()  # the round's Tune objects are garbage now; give their memory back to the next
        return done

    def tuner(self, n: int, run_name: str):
        """One round's ``Tuner`` of ``n`` trials."""
        from ray import tune
        from ray.tune.search import ConcurrencyLimiter

        return tune.Tuner(
            self.trainable,
            tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(self.searcher, max_concurrent=self.max_concurrent),
                                        scheduler=self.scheduler, num_samples=n,
                                        # A new worker process per trial (Ray's default) costs seconds
                                        # of start-up and imports each: docs/performance.md measured 6x.
                                        reuse_actors=True),
            # A copy: Tune appends its own callbacks to the list it is given (a progress reporter
            # that keeps every trial it saw), which would carry them into every later round.
            run_config=tune.RunConfig(name=run_name, storage_path=self.storage_path, callbacks=list(self.callbacks),
                                      verbose=0, stop=self.stopper,
                                      failure_config=tune.FailureConfig(max_failures=self.max_failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
        )
