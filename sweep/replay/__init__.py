"""Replay: benchmark a search strategy without training (a tabular benchmark, as NAS-Bench and
HPOBench do). A finished study's per-epoch validation curves are the table
(:mod:`sweep.replay.table`); a replayed search asks a real Optuna sampler for configurations
and "trains" each by reading its recorded epochs, so a real ASHA (Ray Tune's own scheduler)
decides on real curves (:mod:`sweep.replay.run`); compute is counted in recorded epochs and
seconds, and :mod:`sweep.replay.summary` says how much of it each strategy needs.
"""

SAMPLERS = ("grid", "random", "tpe", "nsga2")
SCHEDULERS = ("none", "asha")
