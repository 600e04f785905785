"""Score many utterances on several CPU cores: a process pool over utterances.

BSS-Eval's cost is one dense factorisation per utterance (see :mod:`sweep.scoring.bss_eval`), and
utterances are independent, so a pool of single-threaded workers scales with the cores while
multi-threaded BLAS inside one process does not: on a shared 2-core machine, two BLAS threads
per factorisation measured several times slower than one (oversubscription).
"""

from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from sweep.scoring.metrics import Assignment, UtteranceScores, score_utterances

__all__ = ["Job", "score_many"]

Job = tuple[Sequence[Any], Any, Any]
"""One utterance: (estimates, each ``[S, T]``; references ``[S, T]``; mixture ``[T]``)."""

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # the factorisation runs in torch (MKL); one thread per worker


def _score(job: tuple[Job, Assignment]) -> list[UtteranceScores]:
    (estimates, ref, mix), assignment = job
    return score_utterances(estimates, ref, mix, assignment)


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Spawned children read these at import time; the parent's own libraries are loaded
    already and keep their settings, and the variables are restored afterwards."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def score_many(jobs: Sequence[Job], workers: int | None = None, assignment: Assignment = "optimal",
               chunksize: int = 4) -> list[list[UtteranceScores]]:
    """:func:`sweep.scoring.metrics.score_utterances` of every job, in order.

    Args:
        jobs: one ``(estimates, ref, mix)`` per utterance.
        workers: processes; ``None`` = ``os.cpu_count()``; ``1`` scores in this process.
        assignment: see :func:`sweep.scoring.metrics.score_utterance`.
        chunksize: utterances handed to a worker at a time (fewer round trips).

    Returns:
        ``out[u][k]``: scores of estimate ``k`` of utterance ``u``.

    Raises:
        ValueError: as :func:`sweep.scoring.metrics.score_utterances` (NaN, silent reference, shapes).
    """
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers <= 1 or len(jobs) <= 1:
        return [_score((job, assignment)) for job in jobs]
    # spawn, not fork: a forked child inherits torch's OpenMP pool mid-state and can hang.
    ctx = multiprocessing.get_context("spawn")
    with _single_threaded_children():
        pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker)
    with pool:
        return pool.map(_score, [(job, assignment) for job in jobs], chunksize=chunksize)
