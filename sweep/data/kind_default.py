"""Dataset kind ``default``: the embedded synthetic corpus (:mod:`sweep.data.synth`), generated
on first use under the data cache, or at ``dataset.root`` when one is given."""

from __future__ import annotations

from pathlib import Path

from sweep.data.cache import default_corpus_dir
from sweep.data.constants import ProgressFn
from sweep.data.registry import DatasetKind, register


def _generate(ds, cache_dir: Path, progress: ProgressFn | None) -> Path:
    from sweep.data.synth import make_default_dataset  # here: spec parsing need not import it

    root = Path(ds.root) if ds.root else default_corpus_dir(ds.seed, ds.n_train, ds.n_valid, ds.n_test, cache_dir)
    return make_default_dataset(root, seed=ds.seed, n_train=ds.n_train, n_valid=ds.n_valid, n_test=ds.n_test,
                                progress=progress).resolve()


def _describe(ds) -> str:
    return (f"dataset default: the embedded corpus ({ds.n_train}/{ds.n_valid}/{ds.n_test} mixtures, seed "
            f"{ds.seed}), generated and checked by `sweep data make` or the first launch")


KIND = register(DatasetKind(
    "default", "where the embedded corpus is cached (optional)", generate=_generate, describe=_describe))
