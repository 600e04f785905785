"""Datasets: the wsj0-2mix-layout loader, the embedded synthetic default corpus, LibriMix,
folders of speakers with dynamic mixing, and the checks that run before any training.

Names are re-exported lazily so that ``import sweep.data.synth`` (the CLI's data build) does
not pay for importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Wsj0MixDataset": "sweep.data.wsj0mix",
    "test_conditions": "sweep.data.wsj0mix",
    "split_folders": "sweep.data.wsj0mix",
    "make_default_dataset": "sweep.data.synth",
    "check_dataset": "sweep.data.check",
    "DataError": "sweep.data.check",
    "prepare_dataset": "sweep.data.prepare",
    "make_datasets": "sweep.data.prepare",
    "DynamicMixDataset": "sweep.data.dynamic",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
