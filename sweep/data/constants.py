"""The data layer's shared vocabulary: split names and folders, levels, default sizes, and the
tags of every random stream.

Changing a number here changes the bytes of generated corpora (see ``synth.VERSION``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads in stream(): the CLI imports this module and `sweep status` needs no numpy
    import numpy as np

__all__ = ["SPLITS", "EVAL_SPLITS", "CONDITIONS", "FOLDER", "FOLDERS", "LEVELS", "PEAK", "LEVEL_DBFS", "REL_LEVEL_DB",
           "NOISE_SNR_DB", "N_TRAIN", "N_VALID", "N_TEST", "Stream", "stream", "ProgressFn"]

# ----------------------------------------------------------------------------- splits

SPLITS = ("train", "valid", "closed", "open")  # what a study sees, in this order
EVAL_SPLITS = SPLITS[1:]  # the fixed mixtures: validation and the two test conditions
CONDITIONS = ("closed", "open")  # the test conditions: seen speakers, unseen speakers
# The wsj0-2mix folder of each split. Real WSJ0-2mix has no tt_closed: there cv stands in.
FOLDER = {"train": "tr", "valid": "cv", "closed": "tt_closed", "open": "tt"}
FOLDERS = tuple(FOLDER[s] for s in SPLITS)  # ("tr", "cv", "tt_closed", "tt")

# ----------------------------------------------------------------------------- levels

LEVELS = ("active", "rms", "none")  # how each source is brought to its level before mixing
PEAK = 0.9  # joint scaling target (the wsj0-2mix scripts'; dynamic mixing only when it would clip)
LEVEL_DBFS = -25.0  # active level of each source before the relative gains
REL_LEVEL_DB = 5.0  # sources' levels spread over [0, 5] dB, as in wsj0-2mix
NOISE_SNR_DB = (-6.0, 3.0)  # speech-to-noise ratio range of noisy mixtures (WHAM!-like), dB

# ----------------------------------------------------------------------------- sizes

# The embedded default corpus: training and validation mixtures, and mixtures per test condition.
N_TRAIN, N_VALID, N_TEST = 2000, 200, 150

# ----------------------------------------------------------------------------- random streams


class Stream(enum.IntEnum):
    """Tags of the independent random streams: ``np.random.default_rng([seed, tag, ...])``.

    The numbers are part of every corpus's bytes; never renumber. (The wsj0 loader's crops use
    the untagged ``[seed, epoch, index]``.)
    """

    VOICES = 1  # synth: each voice's accent, pitch and rate
    PAIRS = 2  # synth: speaker pairs, utterance dealing and relative levels of a split
    TEXTS = 3  # synth: the sentences of a split (own stream: text never shifts pairs)
    UNSEEN_VOICES = 4  # synth: which voices are kept for the open condition
    MIX = 7  # dynamic mixing: speakers, utterances, gains and noise of one item
    CROP = 8  # dynamic mixing: the crop windows of one item (they move every epoch)
    FIXED_SPLIT = 9  # the fixed validation / test mixtures of a speakers corpus
    SPEAKER_SPLIT = 11  # a speakers corpus: unseen speakers and held-out utterances
    HOLD_OUT = 12  # LibriMix: the closed-condition mixtures held out of training


def stream(seed: int, tag: Stream, *keys: int) -> np.random.Generator:
    """The generator of stream ``tag`` for ``seed`` (and e.g. a split, an epoch, an index)."""
    import numpy as np

    return np.random.default_rng([int(seed), int(tag), *(int(k) for k in keys)])


ProgressFn = Callable[[str, int, int], None]  # progress(stage, done, total)
