"""The database: the ``sweep_*`` tables beside Optuna's own (:mod:`.tables`), opening and
upgrading a database (:mod:`.engine`), the repository that reads and writes them
(:mod:`.repository`; database failures raise :class:`StorageError`), the one-driver-per-study
lease (:mod:`.lease`) and the reproducibility record (:mod:`.runtime`)."""

from sweep.store.engine import StorageError
from sweep.store.lease import Lease, StudyBusy, driver_id
from sweep.store.repository import DEFAULT_STORAGE, Store, default_storage
from sweep.store.runtime import code_version
from sweep.store.tables import (COMPLETE, FAILED, INFEASIBLE, INTERRUPTED, PRUNED, RUNNING, STATUSES, EpochRow, OracleRow, ResultRow,
                                StudyRow, TrialRow, UtteranceRow, now)

__all__ = ["COMPLETE", "DEFAULT_STORAGE", "FAILED", "INFEASIBLE", "INTERRUPTED", "PRUNED", "RUNNING", "STATUSES", "EpochRow", "Lease",
           "OracleRow", "ResultRow", "StorageError", "Store", "StudyBusy", "StudyRow", "TrialRow", "UtteranceRow",
           "code_version", "default_storage", "driver_id", "now"]
