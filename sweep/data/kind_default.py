"""Dataset kind ``default``: the embedded synthetic corpus (:mod:`sweep.data.synth`), generated
on first use under the data cache, or at ``dataset.root`` when one is given.

A ``dataset.root`` the user gives is never replaced: it must be missing, empty or hold this very
corpus (same seed and sizes); only the cache folders named by the harness are rebuilt. The
corpus is 2-speaker, so ``n_src`` other than 2 is refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from sweep.data.cache import default_corpus_dir
from sweep.data.constants import ProgressFn
from sweep.data.registry import DatasetKind, register

N_SRC = 2  # speakers per mixture of the embedded corpus


def _root(ds, cache_dir: Path) -> Path:
    return Path(ds.root).expanduser() if ds.root else default_corpus_dir(ds.seed, ds.n_train, ds.n_valid, ds.n_test,
                                                                         cache_dir)


def _verify(ds, n_src: int, cache_dir: Path) -> None:
    from sweep.data.check import DataError
    from sweep.data.generated import check_target
    from sweep.data.synth import corpus_key  # here: spec parsing need not import it

    root = _root(ds, cache_dir)
    if n_src != N_SRC:
        raise DataError(f"{root}: the embedded default corpus is {N_SRC}-speaker ({N_SRC} sources per mixture) "
                        f"but n_src is {n_src}; for {n_src} speakers use a wsj0mix, librimix or speakers dataset")
    check_target(root, corpus_key(ds.seed, ds.n_train, ds.n_valid, ds.n_test), rebuild=not ds.root)


def _generate(ds, cache_dir: Path, progress: ProgressFn | None) -> Path:
    from sweep.data.synth import make_default_dataset

    return make_default_dataset(_root(ds, cache_dir), seed=ds.seed, n_train=ds.n_train, n_valid=ds.n_valid,
                                n_test=ds.n_test, progress=progress, rebuild=not ds.root).resolve()


def _describe(ds) -> str:
    return (f"dataset default: the embedded corpus ({ds.n_train}/{ds.n_valid}/{ds.n_test} mixtures, seed "
            f"{ds.seed}), generated and checked by `sweep data make` or the first launch")


KIND = register(DatasetKind(
    "default", "where the embedded corpus is cached (optional)", generate=_generate, verify=_verify,
    describe=_describe))
