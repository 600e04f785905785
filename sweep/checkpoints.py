"""A trial's checkpoint: what it holds, how it is written, read, sized and deleted.

A checkpoint is one folder (Tune persists it under the study's run folder, ``$SWEEP_RUNS``,
which may be any storage URI Tune accepts) with three files:

- ``card.json``: what the weights are (family, complete params, n_src, sample rate in Hz,
  parameter count, the study, the trial number, the code version); enough to rebuild the model
  without the database.
- ``best.pt``: the weights of the epoch with the best validation SI-SNRi so far, that epoch and
  its score (dB). Test scores, ``sweep separate`` and ``sweep export`` use these weights, as the
  papers report the best-validation model.
- ``state.pt``: the latest state, everything needed to continue training as if never stopped:
  model, optimizer/schedule/early-stop state, the RNG states of Python, NumPy, torch and the
  data loader's generator, and the epoch it finished. A kept checkpoint of a finished trial
  drops it (:func:`strip_training_state`): only the weights are worth disk then.

Tune keeps one checkpoint per trial (the latest, which carries the best weights too); the driver
keeps a study's best ``top_k`` trials' checkpoints and deletes the rest (:mod:`sweep.driver.keeper`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = 1
CARD, BEST, STATE = "card.json", "best.pt", "state.pt"


@dataclass(frozen=True)
class ModelCard:
    """What a checkpoint's weights are; written beside them as ``card.json``."""

    family: str
    params: dict[str, Any]
    n_src: int
    sample_rate: int  # Hz, what the model sees
    param_count: int
    study: str | None = None
    trial: int | None = None
    code_version: str | None = None
    format: int = FORMAT


@dataclass
class BestWeights:
    """The best-validation weights so far (``epoch`` 0: none yet)."""

    epoch: int = 0
    valid_si_snri: float = float("-inf")  # dB
    model: dict[str, torch.Tensor] | None = None

    def offer(self, epoch: int, valid_si_snri: float, model: torch.nn.Module) -> bool:
        """Keep ``model``'s weights if ``valid_si_snri`` beats the best so far; True if it did."""
        if not (valid_si_snri > self.valid_si_snri) and self.model is not None:
            return False
        self.epoch, self.valid_si_snri = epoch, float(valid_si_snri)
        self.model = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return True


def rng_state(loader_generator: torch.Generator) -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
             "loader": loader_generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], loader_generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    loader_generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write(folder: Path, card: ModelCard, best: BestWeights, state: dict[str, Any] | None) -> None:
    """Write a checkpoint into ``folder`` (created). ``state`` None writes the weights only."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CARD).write_text(json.dumps(asdict(card), indent=1, default=str))
    torch.save({"format": FORMAT, "epoch": best.epoch, "valid_si_snri": best.valid_si_snri, "model": best.model},
               folder / BEST)
    if state is not None:
        torch.save({"format": FORMAT, **state}, folder / STATE)


def read_state(folder: str | os.PathLike) -> tuple[dict[str, Any], BestWeights] | None:
    """(latest training state, best weights) of a local checkpoint folder; None without a state."""
    folder = Path(folder)
    if not (folder / STATE).is_file():
        return None
    state = torch.load(folder / STATE, map_location="cpu", weights_only=False)
    return state, read_best(folder)


def read_best(folder: str | os.PathLike) -> BestWeights:
    raw = torch.load(Path(folder) / BEST, map_location="cpu", weights_only=True)
    return BestWeights(int(raw["epoch"]), float(raw["valid_si_snri"]), raw["model"])


def read_card(folder: str | os.PathLike) -> ModelCard:
    data = json.loads((Path(folder) / CARD).read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{folder}: checkpoint format {data.get('format')!r}, this release reads {FORMAT}")
    return ModelCard(**data)


def load_separator(uri: str, device: str | torch.device = "cpu"):
    """(model in eval mode with its best-validation weights, its :class:`ModelCard`) from a kept
    checkpoint at ``uri`` (a folder, or any storage URI Tune accepts)."""
    from sweep import models

    with local_copy(uri) as folder:
        card = read_card(folder)
        best = read_best(folder)
    model = models.build(card.family, card.params, n_src=card.n_src, sample_rate=card.sample_rate)
    model.load_state_dict(best.model)
    return model.to(device).eval(), card


class local_copy:
    """``with local_copy(uri) as folder``: a local folder with the checkpoint's files (the folder
    itself for a local path; a temporary download for a remote URI, removed on exit)."""

    def __init__(self, uri: str) -> None:
        self.uri, self._tmp = uri, None

    def __enter__(self) -> Path:
        if _is_local(self.uri):
            path = Path(self.uri.removeprefix("file://"))
            if not (path / CARD).is_file():
                raise FileNotFoundError(f"no checkpoint at {path} (its {CARD} is missing)")
            return path
        import pyarrow.fs as pafs

        self._tmp = tempfile.mkdtemp(prefix="sweep-ckpt-")
        fs, path = pafs.FileSystem.from_uri(self.uri)
        pafs.copy_files(path, self._tmp, source_filesystem=fs)
        return Path(self._tmp)

    def __exit__(self, *exc: Any) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def size_bytes(uri: str) -> int:
    """Bytes of every file under a checkpoint folder or URI (0 if it is gone)."""
    if _is_local(uri):
        root = Path(uri.removeprefix("file://"))
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)


def delete(uri: str) -> None:
    """Remove a checkpoint folder (local or remote); a missing one is not an error."""
    if _is_local(uri):
        shutil.rmtree(uri.removeprefix("file://"), ignore_errors=True)
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass


def delete_run(uri: str) -> None:
    """Remove every ``checkpoint_*`` folder beside ``uri`` (one trial run's, in Tune's layout),
    including any a killed driver persisted but never recorded."""
    parent, _, _ = uri.rstrip("/").rpartition("/")
    if _is_local(uri):
        root = Path(parent.removeprefix("file://"))
        for folder in root.glob("checkpoint_*") if root.is_dir() else ():
            shutil.rmtree(folder, ignore_errors=True)
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(parent)
    for info in fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)):
        if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_"):
            fs.delete_dir(info.path)


def strip_training_state(uri: str) -> None:
    """Drop ``state.pt`` from a finished trial's kept checkpoint: the weights stay."""
    if _is_local(uri):
        Path(uri.removeprefix("file://"), STATE).unlink(missing_ok=True)
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    try:
        fs.delete_file(f"{path.rstrip('/')}/{STATE}")
    except FileNotFoundError:
        pass
