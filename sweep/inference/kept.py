"""A study's kept checkpoint, found through the database: the trial's row, its model and its
test scores. Reads only: a database that is not there is not created (as ``sweep status``)."""

from __future__ import annotations

import math
from typing import Any

import torch

from sweep.checkpoints import ModelCard, load_separator
from sweep.inference.separate import InputError
from sweep.store import Store


def kept_trial(store: Store, study: str, number: int | None):
    """The :class:`~sweep.store.tables.TrialRow` of trial ``number`` (None: the study's best complete
    trial by its objective) with a kept checkpoint.

    Raises:
        InputError: an unknown study or trial, or a trial without a kept checkpoint (one line).
    """
    from sweep.studies import no_study_message

    if store.study(study) is None:
        raise InputError(no_study_message(store, study))
    try:
        return store.kept_checkpoint(study, number)
    except LookupError as exc:
        raise InputError(str(exc)) from None


def load_kept(row, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, ModelCard]:
    """(model in eval mode on ``device`` with the best-validation weights, its card).

    Raises:
        InputError: the checkpoint the database names is gone or unreadable.
    """
    try:
        return load_separator(row.checkpoint_uri, device)
    except (FileNotFoundError, OSError, ValueError, KeyError, RuntimeError) as exc:
        raise InputError(f"trial {row.number}: cannot load its checkpoint {row.checkpoint_uri}: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def trial_scores(store: Store, study: str, trial_id: int) -> list[dict[str, Any]]:
    """The trial's test-set rows (dB): one per condition x assignment, every stored metric."""
    _, results, _ = store.frames(study)
    rows = results[results["trial_id"] == trial_id].drop(columns=["id", "trial_id"])
    out = []
    for record in rows.sort_values(["condition", "assignment"]).to_dict("records"):
        out.append({k: _plain(v) for k, v in record.items()})
    return out


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: NumPy scalars as Python ones, NaN as None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def pick_device(name: str | None) -> torch.device:
    """``name`` (``cpu``, ``cuda``, ``cuda:1``), or the GPU when there is one."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name[:40]!r}: use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is available here")
    return device
