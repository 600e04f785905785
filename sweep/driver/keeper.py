"""The driver's side of checkpoints: record where each trial's checkpoint is, and keep only
what the study's ``checkpoints`` policy asks for (:mod:`sweep.spec_run`).

Tune persists one checkpoint per trial (``CheckpointConfig(num_to_keep=1)``: the latest, which
also carries the best-validation weights). :class:`CheckpointKeeper` writes its URI, size and
epochs into the trial's row as it lands, so a resumed study knows where an interrupted trial
continues from; when a trial finishes, the policy decides which checkpoints stay. It runs
after the store's writer (a finished trial's status and objective value are written first).
"""

from __future__ import annotations

import logging

from ray.tune import Callback

from sweep import checkpoints
from sweep.objective import Objective
from sweep.spec_run import CheckpointPolicy
from sweep.store import COMPLETE, FAILED, PRUNED, Store, TrialRow

log = logging.getLogger("sweep")


def checkpoint_uri(checkpoint) -> str:
    """A Tune checkpoint's location as one string: a local path, or ``scheme://path``."""
    import pyarrow.fs as pafs

    fs = checkpoint.filesystem
    if fs is None or isinstance(fs, pafs.LocalFileSystem):
        return str(checkpoint.path)
    return f"{fs.type_name}://{str(checkpoint.path).lstrip('/')}"


class CheckpointKeeper(Callback):
    """Records each trial's checkpoint in its row and applies the keep policy when trials finish."""

    def __init__(self, store: Store, study_id: int, policy: CheckpointPolicy, objective: Objective) -> None:
        self.store, self.study_id, self.policy, self.objective = store, study_id, policy, objective

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info) -> None:
        number, uri = int(trial.config["number"]), checkpoint_uri(checkpoint)
        row = self.store.trial(self.study_id, number)
        if row is not None and row.checkpoint_uri and _folder(row.checkpoint_uri) != _folder(uri):
            checkpoints.delete_run(row.checkpoint_uri)  # an earlier run's (interrupted, now superseded)
        last = trial.last_result or {}
        self.store.update_trial(self.study_id, number, checkpoint_uri=uri, checkpoint_bytes=checkpoints.size_bytes(uri),
                                checkpoint_epoch=last.get("epoch"), best_epoch=last.get("best_epoch"))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.settle(int(trial.config["number"]))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.settle(int(trial.config["number"]))

    def settle(self, number: int) -> None:
        """Trial ``number`` finished: keep or delete checkpoints as the policy says."""
        rows = {r.number: r for r in self.store.trials(self.study_id)}
        row = rows.get(number)
        if row is None or not row.checkpoint_uri:
            return
        if self.policy.keep == "none":
            self._drop(row)
            return
        checkpoints.strip_training_state(row.checkpoint_uri)
        self.store.update_trial(self.study_id, number, checkpoint_bytes=checkpoints.size_bytes(row.checkpoint_uri))
        if self.policy.keep == "best":
            for other in self.losers(list(rows.values())):
                self._drop(other)

    def losers(self, rows: list[TrialRow]) -> list[TrialRow]:
        """Finished trials whose checkpoint the ``best`` policy deletes: every failed or pruned
        one, and the complete ones outside the ``top_k`` best by the objective."""
        finished = [r for r in rows if r.checkpoint_uri and r.status in (COMPLETE, PRUNED, FAILED)]
        complete = [r for r in finished if r.status == COMPLETE and r.objective_value is not None]
        ranked = sorted(complete, key=lambda r: (-self.objective.key(r.objective_value), r.number))
        keep = {r.number for r in ranked[: self.policy.top_k]}
        return [r for r in finished if r.number not in keep]

    def _drop(self, row: TrialRow) -> None:
        checkpoints.delete(row.checkpoint_uri)
        self.store.update_trial(self.study_id, row.number, checkpoint_uri=None, checkpoint_bytes=None)
        log.debug("deleted the checkpoint of trial %d", row.number)


def _folder(uri: str) -> str:
    """The trial folder a checkpoint folder sits in (``.../trial/checkpoint_000003``)."""
    return uri.rstrip("/").rsplit("/", 1)[0]
