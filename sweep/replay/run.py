"""One replayed search: a real Optuna sampler proposes, the table "trains", a real ASHA decides.

Trials run one after another (concurrency 1), each epoch read from its recorded curve and
charged to the search's compute (epochs, and the recorded seconds). With ASHA (Ray Tune's own
``ASHAScheduler``, fed the recorded objective per epoch) a stopped trial is told to Optuna as
pruned and costs only the epochs it ran. "Best so far" is the best complete trial's value, as
the harness ranks: the objective at the trial's best-validation epoch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import optuna
from optuna.trial import TrialState

from sweep.replay import SAMPLERS, SCHEDULERS  # noqa: F401 (re-exported)
from sweep.replay.table import ReplayTable


@dataclass(frozen=True)
class Step:
    """The search after one more trial: compute so far and the best value so far (None: none yet)."""

    trial: int
    config: int  # the table row it read
    epochs: int
    seconds: float
    best: float | None


def _sampler(name: str, table: ReplayTable, seed: int) -> optuna.samplers.BaseSampler:
    if name == "grid":
        from sweep.driver.searcher import _GridSampler  # no study.stop(): we ask and tell ourselves

        return _GridSampler(table.values(), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _asha(table: ReplayTable, grace_period: int, reduction_factor: int):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="epoch", metric="objective", mode=table.objective.mode,
                         max_t=max(len(c) for c in table.curves), grace_period=grace_period,
                         reduction_factor=reduction_factor)


def replay(table: ReplayTable, sampler: str = "tpe", scheduler: str = "none", seed: int = 0,
           n_trials: int | None = None, grace_period: int = 1, reduction_factor: int = 2) -> list[Step]:
    """Run one search of ``n_trials`` (default: as many as the table has configurations)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    np.random.seed(seed)  # ASHA picks a bracket with NumPy's global generator
    obj = table.objective
    study = optuna.create_study(direction=obj.direction, sampler=_sampler(sampler, table, seed))
    space = {k: optuna.distributions.CategoricalDistribution(v) for k, v in table.values().items()}
    asha = _asha(table, grace_period, reduction_factor) if scheduler == "asha" else None
    steps: list[Step] = []
    epochs, seconds, best = 0, 0.0, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GridSampler's "all grids evaluated" once it wraps round
        for n in range(n_trials or len(table.configs)):
            trial = study.ask(space)
            i = table.snap(trial.params)
            ran, complete = _train(table, i, asha, SimpleNamespace(trial_id=str(n)), trial)
            epochs += ran
            seconds += sum(e.seconds for e in table.curves[i][:ran])
            if complete:
                value = table.final_value(i)
                study.tell(trial, value)
                best = value if obj.better(value, best) else best
            else:
                study.tell(trial, state=TrialState.PRUNED)
            steps.append(Step(n + 1, i, epochs, seconds, best))
    return steps


def _train(table: ReplayTable, i: int, asha, handle, trial: optuna.Trial) -> tuple[int, bool]:
    """Read configuration ``i``'s epochs until ASHA stops it; (epochs run, ran to the end)."""
    from ray.tune.schedulers import TrialScheduler

    curve = table.curves[i]
    if asha is not None:
        asha.on_trial_add(None, handle)
    for k, e in enumerate(curve, start=1):
        trial.report(e.objective, e.epoch)
        if asha is None:
            continue
        result = {"epoch": e.epoch, "objective": e.objective}
        if k == len(curve):
            asha.on_trial_complete(None, handle, result)
        elif asha.on_trial_result(None, handle, result) == TrialScheduler.STOP:
            asha.on_trial_remove(None, handle)
            return k, False
    return len(curve), True
