"""The corpus cache: where corpora are built and found, for the driver and the CLI.

``$SWEEP_DATA`` (default ``./data``) holds the embedded default corpus
(``default-seed{seed}-{n_train}-{n_valid}-{n_test}``) and the prepared roots of the other kinds
(``{kind}-{digest}``, see :mod:`sweep.data.prepare`). Builders serialise on a lock file beside
the folder they build, so concurrent launches build each corpus once. A build happens in a
temp folder beside its final name, marked by :data:`BUILDING` until complete; only such folders
(partial or complete builds of ours) are ever deleted (:func:`discard_build`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sweep.data.constants import ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    from sweep.data.check import DataPlan
    from sweep.spec import Spec

__all__ = ["check_data", "data_root_for", "data_summary", "default_data_dir", "default_corpus_dir",
           "stage_printer", "file_lock", "BUILDING", "start_build", "finish_build", "discard_build"]

BUILDING = ".sweep-building"  # inside a folder being built: marks a partial build of ours


def default_data_dir() -> Path:
    """``$SWEEP_DATA``, or ``./data``."""
    return Path(os.environ.get("SWEEP_DATA", "data")).expanduser()


def default_corpus_dir(seed: int, n_train: int, n_valid: int, n_test: int, data_dir: Path | None = None) -> Path:
    """Where the embedded default corpus of these arguments lives (under ``data_dir``, or the cache)."""
    return Path(data_dir or default_data_dir()) / f"default-seed{seed}-{n_train}-{n_valid}-{n_test}"


def check_data(spec: Spec) -> DataPlan | None:
    """Check the spec's corpus (every file header) before anything is written; returns the
    :class:`sweep.data.check.DataPlan`, or None for a generated corpus (its files are checked as
    they are made; its kind's ``verify`` refuses a root it must not write, an ``n_src`` it lacks).

    Raises:
        sweep.data.check.DataError: one line, starting with the offending path.
    """
    from sweep.data.check import check_dataset
    from sweep.data.registry import get_kind

    kind = get_kind(spec.dataset.kind)
    if kind.generated:
        if kind.verify is not None:
            kind.verify(spec.dataset, spec.n_src, default_data_dir())
        return None
    return check_dataset(spec.dataset, spec.n_src)


def data_summary(spec: Spec, plan: DataPlan | None) -> str:
    """What ``sweep data check`` prints: the plan's summary, or the generated kind's line."""
    from sweep.data.registry import get_kind

    if plan is not None:
        return plan.summary()
    kind = get_kind(spec.dataset.kind)
    return kind.describe(spec.dataset) if kind.describe else f"dataset {kind.name}: {kind.doc}"


def data_root_for(spec: Spec, progress: TextIO | None = sys.stderr, plan: DataPlan | None = None) -> Path:
    """The folder a trial reads (wsj0-2mix layout + ``dataset.json``; see sweep.data.prepare):
    builds the generated corpus, or the fixed sets / links of other kinds, when not cached."""
    from sweep.data.registry import get_kind

    kind = get_kind(spec.dataset.kind)
    if kind.generated:
        if kind.verify is not None:
            kind.verify(spec.dataset, spec.n_src, default_data_dir())
        return kind.generate(spec.dataset, default_data_dir(), stage_printer(progress))
    plan = plan or check_data(spec)
    return kind.prepare(plan, default_data_dir(), stage_printer(progress))


def stage_printer(out: TextIO | None) -> ProgressFn:
    """A ``progress(stage, done, total)`` that prints ``  data: STAGE DONE/TOTAL`` lines to
    ``out`` (at most one every 2 s, plus each stage's last); ``None`` prints nothing."""
    last = {"t": 0.0}

    def show(stage: str, done: int, total: int) -> None:
        if out is None:
            return
        t = time.monotonic()
        if done == total or t - last["t"] > 2.0:
            last["t"] = t
            print(f"  data: {stage} {done}/{total}", file=out, flush=True)

    return show


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, even on errors
        yield


def start_build(tmp: Path, finished: str) -> None:
    """Make the temp folder ``tmp`` afresh (see :func:`discard_build`), marked as a build of ours."""
    discard_build(tmp, finished)
    tmp.mkdir(parents=True)
    (tmp / BUILDING).write_text("a build by sweep.data; deleted when complete\n", encoding="utf-8")


def finish_build(tmp: Path) -> None:
    """Drop the mark once the build's last file (``finished``) is written: it is complete."""
    (tmp / BUILDING).unlink()


def discard_build(path: Path, finished: str) -> None:
    """Delete ``path`` if it is a build of ours: partial (holds :data:`BUILDING`), complete (holds
    ``finished``, the file a build writes last) or an empty folder. Anything else stays.

    Raises:
        sweep.data.check.DataError: ``path`` exists and is not a build of ours.
    """
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink() and (
            (path / BUILDING).is_file() or (path / finished).is_file() or not any(path.iterdir())):
        shutil.rmtree(path)
        return
    from sweep.data.check import DataError

    raise DataError(f"{path}: in the way of a build and not one of ours (no {BUILDING} or {finished} in it); "
                    "refusing to delete it: move it away")
