"""The repository: reads and writes of the ``sweep_*`` tables (schema in :mod:`sweep.store.tables`).

The driver writes trials, epochs and results (one writer per study, so SQLite stays correct
even when trials run on many machines); ``sweep oracle`` writes oracle rows from its own
process. Every write commits at once: nothing is lost on a crash.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sweep.scoring.registry import TEST_METRICS, summary_metrics
from sweep.store.engine import make_engine, upgrade
from sweep.store.runtime import code_version, runtime_record
from sweep.store.tables import (FAILED, RUNNING, STATUSES, EpochRow, OracleRow, ResultRow, StudyRow, TrialRow,
                                UtteranceRow, now)

DEFAULT_STORAGE = "sqlite:///sweep.db"


def default_storage() -> str:
    return os.environ.get("SWEEP_STORAGE", DEFAULT_STORAGE)


class Store:
    """Reads and writes the ``sweep_*`` tables of one database (any SQLAlchemy URL)."""

    def __init__(self, url: str = DEFAULT_STORAGE) -> None:
        self.url = url
        self.engine = make_engine(url)
        upgrade(self.engine)

    # Tune pickles its callbacks with the experiment state (tuner.pkl). The URL may carry a
    # password, and nothing restores a Store from there (a study resumes from the database).
    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.url, self.engine = None, None

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- studies ----------------------------------------------------------------------------
    def study(self, name: str) -> StudyRow | None:
        with self.session() as s:
            return StudyRow.find(s, name)

    def studies(self) -> list[StudyRow]:
        with self.session() as s:
            return list(s.scalars(select(StudyRow).order_by(StudyRow.id)))

    def ensure_study(self, name: str, spec: Any) -> StudyRow:
        """The study row for ``name``; created from the spec (a :class:`sweep.spec.Spec`) on first launch."""
        with self.session() as s:
            row = StudyRow.find(s, name)
            if row is None:
                row = StudyRow(name=name, family=spec.family, spec_path=spec.path, spec_yaml=spec.text,
                               sampler=spec.sampler, scheduler=spec.scheduler, n_trials=spec.n_trials,
                               seed=spec.seed, dataset=json.dumps(spec.dataset.__dict__),
                               objective=f"{spec.objective.mode} {spec.objective.metric}",
                               budget=spec.budget, **runtime_record())
                s.add(row)
                s.commit()
            return row

    def set_study_data_root(self, study_id: int, root: str) -> None:
        """Record the resolved corpus folder (the report finds the oracle rows by it)."""
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            if row.data_root != root:
                row.data_root = root
                s.commit()

    # -- trials -----------------------------------------------------------------------------
    def trial_queued(self, study_id: int, number: int, plan: Any) -> None:
        """The row of a trial Optuna just asked for, from its :class:`sweep.plan.TrialPlan`."""
        mask, activation = plan.mask_and_activation()
        with self.session() as s:
            if TrialRow.find(s, study_id, number) is None:
                s.add(TrialRow(study_id=study_id, number=number, status=RUNNING, family=plan.family,
                               params=plan.record(), mask=mask, activation=activation, seed=plan.seed,
                               **runtime_record()))
            s.commit()

    def update_trial(self, study_id: int, number: int, **values: Any) -> None:
        with self.session() as s:
            row = TrialRow.find_or_raise(s, study_id, number)
            for k, v in values.items():
                setattr(row, k, v)
            s.commit()

    def trial(self, study_id: int, number: int) -> TrialRow | None:
        with self.session() as s:
            return TrialRow.find(s, study_id, number)

    def add_epoch(self, study_id: int, number: int, epoch: int, train_loss: float | None,
                  valid_si_snri: float | None, elapsed_s: float | None, objective_value: float | None = None) -> None:
        with self.session() as s:
            row = TrialRow.find_or_raise(s, study_id, number)
            if EpochRow.find(s, row.id, epoch) is None:
                s.add(EpochRow(trial_id=row.id, epoch=epoch, train_loss=train_loss,
                               valid_si_snri=valid_si_snri, elapsed_s=elapsed_s))
            row.epochs_done = max(row.epochs_done or 0, epoch)
            row.valid_si_snri = valid_si_snri
            row.objective_value = objective_value
            s.commit()

    def add_results(self, study_id: int, number: int, results: Iterable[dict]) -> None:
        """Test rows as :func:`sweep.scoring.evaluate.evaluate` returns them (one key per test metric)."""
        summary = [m.name for m in summary_metrics()]
        with self.session() as s:
            row = TrialRow.find_or_raise(s, study_id, number)
            for r in results:
                s.add(ResultRow(trial_id=row.id, condition=r["condition"], assignment=r["assignment"],
                                n_utterances=r["n_utterances"], **{k: r.get(k) for k in summary}))
                for u in r.get("utterances") or ():
                    s.add(UtteranceRow(trial_id=row.id, condition=r["condition"], assignment=r["assignment"],
                                       utterance=str(u["name"]), **{m.name: u.get(m.name) for m in TEST_METRICS}))
            s.commit()

    def fail_running(self, study_id: int, reason: str) -> list[int]:
        """Mark trials left ``running`` (the driver died under them) as failed; returns their numbers."""
        with self.session() as s:
            rows = list(s.scalars(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.status == RUNNING)))
            for row in rows:
                row.status, row.error, row.finished_at = FAILED, reason, now()
            s.commit()
            return [r.number for r in rows]

    def trials(self, study_id: int) -> list[TrialRow]:
        with self.session() as s:
            return list(s.scalars(select(TrialRow).where(TrialRow.study_id == study_id).order_by(TrialRow.number)))

    def counts(self, study_id: int) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(select(TrialRow.status, func.count()).where(TrialRow.study_id == study_id)
                             .group_by(TrialRow.status)).all()
        out = {k: 0 for k in STATUSES}
        out.update({k: n for k, n in rows})
        return out

    # -- oracle references ------------------------------------------------------------------
    def add_oracle(self, rows: Iterable[dict]) -> None:
        """Insert or replace oracle rows (keys: dataset, condition, mask, n_utterances, ...)."""
        with self.session() as s:
            for r in rows:
                old = OracleRow.find(s, r["dataset"], r["condition"], r["mask"], r["n_utterances"])
                if old is not None:
                    s.delete(old)
                    s.flush()
                s.add(OracleRow(code_version=code_version(), **r))
            s.commit()

    # -- frames for reports -----------------------------------------------------------------
    def oracle_frame(self, dataset: str | None = None):
        """Oracle rows as a pandas DataFrame (all datasets, or one resolved root)."""
        import pandas as pd

        query = select(OracleRow)
        if dataset is not None:
            query = query.where(OracleRow.dataset == dataset)
        with self.engine.connect() as c:
            return pd.read_sql(query.order_by(OracleRow.id), c)

    def frames(self, study_name: str):
        """(trials, results, epochs) pandas DataFrames of one study."""
        import pandas as pd

        study = self._study_or_raise(study_name)
        with self.engine.connect() as c:
            trials = pd.read_sql(select(TrialRow).where(TrialRow.study_id == study.id), c)
            ids = [int(i) for i in trials["id"]] or [-1]
            results = pd.read_sql(select(ResultRow).where(ResultRow.trial_id.in_(ids)), c)
            epochs = pd.read_sql(select(EpochRow).where(EpochRow.trial_id.in_(ids)), c)
        return trials, results, epochs

    def utterance_frame(self, study_name: str):
        """Per-utterance test scores of one study, with the trial's ``number``."""
        import pandas as pd

        study = self._study_or_raise(study_name)
        query = (select(UtteranceRow, TrialRow.number).join(TrialRow, UtteranceRow.trial_id == TrialRow.id)
                 .where(TrialRow.study_id == study.id))
        with self.engine.connect() as c:
            return pd.read_sql(query, c)

    def _study_or_raise(self, name: str) -> StudyRow:
        study = self.study(name)
        if study is None:
            raise KeyError(name)
        return study
