"""Kept checkpoints for report tests, written without training.

A real uPIT model (1 x 32 LSTM, random weights from a fixed seed) is saved by the real writer
(:func:`sweep.checkpoints.write`, weights only, as the keeper leaves a finished trial's), and a
trial row is pointed at it with the columns the keeper sets. The report then loads and runs it
on the ``tiny_data`` corpus as it would a trained model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sweep import checkpoints, models
from sweep.checkpoints import BestWeights, ModelCard
from sweep.store import Store

UPIT = {"mask_type": "PSM", "activation": "sigmoid", "rnn_type": "lstm", "num_layers": 1, "hidden_size": 32}
BEST_EPOCH, LAST_EPOCH = 2, 3


def kept_model(folder: Path, seed: int = 0) -> str:
    """A weights-only checkpoint of a small uPIT model in ``folder``; returns its path."""
    torch.manual_seed(seed)
    model = models.build("upit", UPIT, n_src=2, sample_rate=8000)
    best = BestWeights()
    best.offer(BEST_EPOCH, 3.0, model)
    checkpoints.write(folder, ModelCard("upit", UPIT, 2, 8000, model.param_count()), best, None)
    return str(folder)


def keep(store: Store, study_id: int, number: int, uri: str) -> None:
    """Record ``uri`` as trial ``number``'s kept checkpoint, as the driver's keeper does."""
    size = checkpoints.size_bytes(uri) if "://" not in uri else 123_456_789
    store.update_trial(study_id, number, checkpoint_uri=uri, checkpoint_bytes=size, checkpoint_epoch=LAST_EPOCH,
                       best_epoch=BEST_EPOCH)
