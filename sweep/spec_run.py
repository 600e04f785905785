"""The run-control sections of a spec: what happens when a trial fails, and which trained
models a study keeps.

``failure: {max_retries: N}``: a failed trial runs again, from its latest checkpoint, up to N
times within the same launch (the same Optuna trial and row).

``checkpoints: {keep: best|all|none, top_k: 3}``: every trial checkpoints each epoch (its latest
training state and its best-validation weights, :mod:`sweep.checkpoints`) so an interrupted
trial continues where it stopped. When trials finish, ``best`` keeps the ``top_k`` complete
trials that are best by the study's objective and deletes the others' checkpoints, ``all``
keeps every finished trial's, ``none`` deletes each when its trial finishes. Kept checkpoints
drop their optimizer state (only the weights are used after training), so disk use stays
bounded by ``top_k`` models plus one checkpoint per running trial.
"""

from __future__ import annotations

from dataclasses import dataclass

from sweep.spec_nodes import Reader

MAX_RETRIES = 10  # a trial that failed ten times will fail again; resume instead
KEEP = ("best", "all", "none")
MAX_TOP_K = 1000


@dataclass(frozen=True)
class CheckpointPolicy:
    """Which finished trials keep their checkpoint (see the module's docstring)."""

    keep: str = "best"
    top_k: int = 3


def parse_failure(r: Reader, top: dict) -> int:
    """``failure: {max_retries: N}``: how often a failed trial runs again within the launch."""
    if "failure" not in top:
        return 0
    items = r.mapping(top["failure"][1], "failure")
    r.check_keys(items, {"max_retries"}, "failure")
    if "max_retries" not in items:
        return 0
    n = r.scalar(items["max_retries"][1], "failure.max_retries", int)
    if not 0 <= n <= MAX_RETRIES:
        raise r.fail(items["max_retries"][1], "failure.max_retries", f"must be in [0, {MAX_RETRIES}], got {n}")
    return n


def parse_checkpoints(r: Reader, top: dict) -> CheckpointPolicy:
    """``checkpoints: {keep, top_k}``; absent keys take :class:`CheckpointPolicy`'s defaults."""
    if "checkpoints" not in top:
        return CheckpointPolicy()
    items = r.mapping(top["checkpoints"][1], "checkpoints")
    r.check_keys(items, {"keep", "top_k"}, "checkpoints")
    policy = CheckpointPolicy()
    if "keep" in items:
        keep = r.scalar(items["keep"][1], "checkpoints.keep", str)
        if keep not in KEEP:
            raise r.fail(items["keep"][1], "checkpoints.keep", f"must be one of {', '.join(KEEP)}, got {keep!r}")
        policy = CheckpointPolicy(keep, policy.top_k)
    if "top_k" in items:
        k = r.scalar(items["top_k"][1], "checkpoints.top_k", int)
        if not 1 <= k <= MAX_TOP_K:
            raise r.fail(items["top_k"][1], "checkpoints.top_k", f"must be in [1, {MAX_TOP_K}], got {k}")
        policy = CheckpointPolicy(policy.keep, k)
    return policy
