"""Test-set evaluation: SI-SNRi and SDRi per condition (closed / open speakers) and per output
assignment (optimal / default), on full-length utterances.

- ``default`` assignment: the output streams as the model emits them, scored with the
  utterance-level permutation that suits each metric best (see sweep.metrics). This is the
  uPIT paper's "def. assign."; it is not sweep.metrics' ``assignment="default"`` (no
  permutation at all), which is kept for diagnosing a model's output order.
- ``optimal`` assignment: for mask families that can do it (``oracle_frame_assignment``), the
  streams are re-ordered frame by frame with the reference before the inverse STFT, as in the
  uPIT paper's "opt. assign." columns. Families without frame-wise outputs report only
  ``default``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from sweep.data.wsj0mix import Wsj0MixDataset
from sweep.metrics import score_utterances


@torch.no_grad()
def evaluate(model: torch.nn.Module, conditions: dict[str, Path], n_src: int, sample_rate: int,
             device: torch.device, max_utterances: int | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> list[dict]:
    """Rows ``{condition, assignment, si_snri, sdri, n_utterances, utterances}``: means in dB, and
    ``utterances`` the per-utterance ``{name, si_snri, sdri, sir, sar}`` (dB) behind them, which
    the driver stores so reports can give confidence intervals and paired comparisons."""
    model.eval()
    rows: list[dict] = []
    has_oracle = hasattr(model, "oracle_frame_assignment")
    for condition, folder in conditions.items():
        ds = Wsj0MixDataset(folder, n_src=n_src, segment=None, sample_rate=sample_rate)
        n = len(ds) if max_utterances is None else min(len(ds), max_utterances)
        scores: dict[str, list] = {"default": [], "optimal": []} if has_oracle else {"default": []}
        names_seen: list[str] = []
        for i in range(n):
            mix, sources, name = ds[i]
            names_seen.append(str(name))
            mix_b, src_b = mix[None].to(device), sources[None].to(device)
            outputs = {"default": model(mix_b)[0]}
            if has_oracle:
                outputs["optimal"] = model.oracle_frame_assignment(mix_b, src_b)[0]
            # Both assignments of one utterance share the reference statistics: score them together.
            names = list(outputs)
            utt = score_utterances([outputs[k].cpu().numpy() for k in names], sources.numpy(), mix.numpy())
            for assignment, u in zip(names, utt):
                scores[assignment].append(u)
            if progress:
                progress(condition, i + 1, n)
        for assignment, utts in scores.items():
            rows.append({
                "condition": condition,
                "assignment": assignment,
                "si_snri": float(np.mean([u.si_snri for u in utts])),
                "sdri": float(np.mean([u.sdri for u in utts])),
                "n_utterances": len(utts),
                "utterances": [{"name": n, "si_snri": u.si_snri, "sdri": u.sdri, "sir": u.sir, "sar": u.sar}
                               for n, u in zip(names_seen, utts)],
            })
    return rows
