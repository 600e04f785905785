"""Test-set evaluation: every :data:`~sweep.scoring.registry.TEST_METRICS` entry per condition
(closed / open speakers) and per output assignment (default / optimal), on full-length utterances.

- ``default`` assignment: the output streams as the model emits them, scored with the
  utterance-level permutation that suits each metric best (``assignment="optimal"`` of
  :func:`sweep.scoring.metrics.score_utterances`). This is the uPIT paper's "def. assign.": one
  speaker order for the whole utterance, whichever fits best. It is *not* sweep.scoring.metrics'
  ``assignment="default"`` (no permutation at all), which is kept for diagnosing a model's
  output order.
- ``optimal`` assignment: for models whose :meth:`~sweep.models.Separator.oracle_assignment`
  returns outputs re-assigned inside the model (uPIT's masks, frame by frame with the
  reference, before the inverse STFT), as in the uPIT paper's "opt. assign." columns. Models
  whose ``oracle_assignment`` returns ``None`` report only ``default``.

Both come from :meth:`~sweep.models.Separator.assignments`, which may share one pass of the
network between them (uPIT's does: the test phase of the main job's trials measured 3.4 of
14.2 s in the second pass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sweep.data.wsj0mix import Wsj0MixDataset
from sweep.models import Separator
from sweep.scoring.metrics import UtteranceScores, score_utterances
from sweep.scoring.registry import TEST_METRICS

__all__ = ["evaluate"]


def _outputs(model: Separator, mix: torch.Tensor, sources: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{assignment: [S, T]}`` for one utterance (``mix [1, T]``, ``sources [1, S, T]``)."""
    return {assignment: out[0] for assignment, out in model.assignments(mix, sources).items()}


def _row(condition: str, assignment: str, scored: list[tuple[str, UtteranceScores]]) -> dict:
    """One result row: the mean of every test metric, and the per-utterance values behind it."""
    row: dict = {"condition": condition, "assignment": assignment}
    for m in TEST_METRICS:
        row[m.name] = float(np.mean([getattr(u, m.name) for _, u in scored]))
    row["n_utterances"] = len(scored)
    row["utterances"] = [{"name": name, **{m.name: getattr(u, m.name) for m in TEST_METRICS}}
                         for name, u in scored]
    return row


@torch.no_grad()
def evaluate(model: Separator, conditions: dict[str, Path], n_src: int, sample_rate: int,
             device: torch.device, max_utterances: int | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> list[dict]:
    """Score ``model`` on the test conditions.

    Args:
        model: any separator; its ``assignments`` decide whether ``optimal`` rows exist.
        conditions: condition name -> wsj0-2mix style folder.
        n_src, sample_rate: of the dataset.
        device: where the model runs; scoring runs on the CPU in float64.
        max_utterances: score only the first ones of each condition.
        progress: called ``(condition, done, total)`` after each utterance.

    Returns:
        Rows ``{condition, assignment, <metric>..., n_utterances, utterances}``: one key per
        :data:`~sweep.scoring.registry.TEST_METRICS` entry holding its mean (dB), and
        ``utterances`` the per-utterance ``{name, <metric>...}`` behind them, which the driver
        stores so reports can give confidence intervals and paired comparisons.
    """
    model.eval()
    rows: list[dict] = []
    for condition, folder in conditions.items():
        ds = Wsj0MixDataset(folder, n_src=n_src, segment=None, sample_rate=sample_rate)
        n = len(ds) if max_utterances is None else min(len(ds), max_utterances)
        # "default" always has a row; "optimal" only if the model's assignments include one.
        scores: dict[str, list[tuple[str, UtteranceScores]]] = {"default": []}
        for i in range(n):
            mix, sources, name = ds[i]
            outputs = _outputs(model, mix[None].to(device), sources[None].to(device))
            # Every assignment of one utterance shares the reference statistics: score them together.
            names = list(outputs)
            utt = score_utterances([outputs[k].cpu().numpy() for k in names], sources.numpy(), mix.numpy())
            for assignment, u in zip(names, utt):
                scores.setdefault(assignment, []).append((str(name), u))
            if progress:
                progress(condition, i + 1, n)
        rows += [_row(condition, assignment, scored) for assignment, scored in scores.items()]
    return rows
