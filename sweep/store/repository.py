"""The repository: reads and writes of the ``sweep_*`` tables (schema in :mod:`sweep.store.tables`).

The driver writes trials, epochs and results (one writer per study, so SQLite stays correct
even when trials run on many machines); ``sweep oracle`` writes oracle rows from its own
process. Every write commits at once: nothing is lost on a crash.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.attributes import set_committed_value

from sweep.objective import objectives_text
from sweep.scoring.registry import TEST_METRICS, summary_metrics
from sweep.store.engine import (StorageError, existing_columns, make_engine, missing_database, prepare_folder,
                                read_columns, safe_url, split_data_root, storage_errors, up_to_date, upgrade)
from sweep.store.runtime import code_version, runtime_record
from sweep.store.tables import (COMPLETE, FAILED, INTERRUPTED, RUNNING, STATUSES, EpochRow, OracleRow, ResultRow, StudyRow, TrialRow,
                                UtteranceRow, now)

DEFAULT_STORAGE = "sqlite:///sweep.db"


def default_storage() -> str:
    return os.environ.get("SWEEP_STORAGE", DEFAULT_STORAGE)


def _writes(method: Callable) -> Callable:
    """A write: the schema is made or brought up to date first; database failures become StorageError."""
    @functools.wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        self._ready(writing=True)
        with storage_errors(self.url):
            return method(self, *args, **kwargs)
    return wrapper


def _reads(absent: Callable[..., Any]) -> Callable[[Callable], Callable]:
    """A read: ``absent(*args)`` answers when the database (or its sweep tables) is not there."""
    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
            if not self._ready():
                return absent(*args, **kwargs)
            with storage_errors(self.url):
                return method(self, *args, **kwargs)
        return wrapper
    return wrap


def _no_study(name: str, *_: Any) -> Any:
    raise KeyError(name)


def _empty_frame(model: type, *extra: str):
    import pandas as pd

    return pd.DataFrame(columns=[c.name for c in model.__table__.columns] + list(extra))


class Store:
    """Reads and writes the ``sweep_*`` tables of one database (any SQLAlchemy URL).

    Opening writes nothing. A store opened with ``write=True`` (the driver, ``sweep oracle``)
    creates the tables with its first write and brings an existing sweep database made by an older
    version up to date with its first use. One opened with ``write=False`` (``status``, ``report``)
    never writes, so it reads a read-only database: the columns an older database lacks read as
    None. Neither creates a database by reading: a SQLite file that is not there reads as empty.
    Database failures raise :class:`sweep.store.engine.StorageError` (one line).
    """

    def __init__(self, url: str = DEFAULT_STORAGE, write: bool = True) -> None:
        self.url, self.write = url, write
        self.engine = make_engine(url, write=write)
        self._have: dict[str, set[str]] | None = None  # the sweep tables and columns this database has
        self._complete = False  # the schema is up to date (no column to fill in on read)

    # Tune pickles its callbacks with the experiment state (tuner.pkl). The URL may carry a
    # password, and nothing restores a Store from there (a study resumes from the database).
    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.url, self.engine, self.write, self._have, self._complete = None, None, False, None, False

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def exists(self) -> bool:
        """False when the URL names a SQLite file that is not there (reading never creates it)."""
        return not missing_database(self.url)

    def _ready(self, writing: bool = False) -> bool:
        """Whether the sweep tables are there to read. Before the first write the schema is created
        or brought up to date; a writable store also upgrades an existing sweep database on first use."""
        if writing and not self.write:
            raise StorageError(f"{safe_url(self.url)} was opened for reading only")
        if self._have is not None and (self._complete or not writing):
            return True
        with storage_errors(self.url):
            if not writing and missing_database(self.url):
                return False
            if writing:
                prepare_folder(self.url)
            self.engine, have = read_columns(self.engine, self.url, self.write)
            complete = up_to_date(have)
            if self.write and (writing or "sweep_study" in have) and not complete:
                upgrade(self.engine)
                have, complete = existing_columns(self.engine), True
        if "sweep_study" not in have:
            return False  # not a sweep database (yet): look again next time
        self._have, self._complete = have, complete
        return True

    def _objects(self, model: type, *where: Any, order_by: Any = None) -> list:
        """Rows of ``model``; columns that an older database lacks read as None (see ``write=False``)."""
        have = self._have.get(model.__tablename__)
        if not have:
            return []
        columns = list(model.__table__.columns)
        missing = [c.key for c in columns if c.name not in have]
        query = select(model).where(*where)
        if order_by is not None:
            query = query.order_by(order_by)
        if missing:
            query = query.options(load_only(*(getattr(model, c.key) for c in columns if c.name in have)))
        with self.session() as s:
            rows = list(s.scalars(query))
            for row in rows:
                for key in missing:
                    set_committed_value(row, key, None)
                moved = split_data_root(row.dataset) if model is StudyRow and "data_root" in missing else None
                if moved is not None:
                    set_committed_value(row, "data_root", moved[0])
                    set_committed_value(row, "dataset", moved[1])
        return rows

    def _frame(self, conn, model: type, *where: Any, order_by: Any = None):
        """Rows of ``model`` as a DataFrame of all its columns (None where an older database lacks one)."""
        import pandas as pd

        have = self._have.get(model.__tablename__)
        if not have:
            return _empty_frame(model)
        names = [c.name for c in model.__table__.columns]
        query = select(*(c for c in model.__table__.columns if c.name in have)).where(*where)
        frame = pd.read_sql(query if order_by is None else query.order_by(order_by), conn)
        for name in names:
            if name not in frame:
                frame[name] = None
        return frame[names]

    # -- studies ----------------------------------------------------------------------------
    @_reads(lambda name: None)
    def study(self, name: str) -> StudyRow | None:
        return next(iter(self._objects(StudyRow, StudyRow.name == name)), None)

    @_reads(lambda: [])
    def studies(self) -> list[StudyRow]:
        return self._objects(StudyRow, order_by=StudyRow.id)

    @_writes
    def ensure_study(self, name: str, spec: Any) -> StudyRow:
        """The study row for ``name``; created from the spec (a :class:`sweep.spec.Spec`) on first
        launch. Two first launches at once both get the one row."""
        with self.session() as s:
            row = StudyRow.find(s, name)
            if row is not None:
                return row
            row = StudyRow(name=name, family=spec.family, spec_path=spec.path, spec_yaml=spec.text,
                           sampler=spec.sampler, scheduler=spec.scheduler, n_trials=spec.n_trials,
                           seed=spec.seed, dataset=json.dumps(spec.dataset.__dict__),
                           objective=objectives_text(getattr(spec, "objectives", None) or (spec.objective,)),
                           budget=spec.budget, **runtime_record())
            s.add(row)
            try:
                s.commit()
            except IntegrityError:  # another launch inserted it between our look and our write
                s.rollback()
                row = StudyRow.find(s, name)
                if row is None:
                    raise
            return row

    @_writes
    def set_study_data_root(self, study_id: int, root: str) -> None:
        """Record the resolved corpus folder (the report finds the oracle rows by it)."""
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            if row.data_root != root:
                row.data_root = root
                s.commit()

    @_writes
    def update_study(self, study_id: int, **values: Any) -> None:
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            for k, v in values.items():
                setattr(row, k, v)
            s.commit()

    # -- trials -----------------------------------------------------------------------------
    @_writes
    def trial_queued(self, study_id: int, number: int, plan: Any) -> None:
        """The row of a trial Optuna just asked for, from its :class:`sweep.plan.TrialPlan`."""
        mask, activation = plan.mask_and_activation()
        with self.session() as s:
            if TrialRow.find(s, study_id, number) is None:
                s.add(TrialRow(study_id=study_id, number=number, status=RUNNING, family=plan.family,
                               params=plan.record(), mask=mask, activation=activation, seed=plan.seed,
                               **runtime_record()))
            s.commit()

    @_writes
    def update_trial(self, study_id: int, number: int, **values: Any) -> None:
        with self.session() as s:
            row = TrialRow.find_or_raise(s, study_id, number)
            for k, v in values.items():
                setattr(row, k, v)
            s.commit()

    @_reads(lambda study_id, number: None)
    def trial(self, study_id: int, number: int) -> TrialRow | None:
        return next(iter(self._objects(TrialRow, TrialRow.study_id == study_id, TrialRow.number == number)), None)

    @_writes
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

    @_writes
    def add_results(self, study_id: int, number: int, results: Iterable[dict]) -> None:
        """Test rows as :func:`sweep.scoring.evaluate.evaluate` returns them (one key per test metric)."""
        summary = [m.name for m in summary_metrics()]
        with self.session() as s:
            row = TrialRow.find_or_raise(s, study_id, number)
            for scored in [*row.results, *row.utterances]:  # a final report seen twice writes once
                s.delete(scored)
            s.flush()
            for r in results:
                s.add(ResultRow(trial_id=row.id, condition=r["condition"], assignment=r["assignment"],
                                n_utterances=r["n_utterances"], **{k: r.get(k) for k in summary}))
                for u in r.get("utterances") or ():
                    s.add(UtteranceRow(trial_id=row.id, condition=r["condition"], assignment=r["assignment"],
                                       utterance=str(u["name"]), **{m.name: u.get(m.name) for m in TEST_METRICS}))
            s.commit()

    @_writes
    def fail_running(self, study_id: int, reason: str, keep: Iterable[int] = ()) -> list[int]:
        """Mark trials left ``running`` or ``interrupted`` as failed, except the numbers in
        ``keep`` (they continue); returns the numbers it failed."""
        keep = set(keep)
        with self.session() as s:
            rows = [r for r in s.scalars(select(TrialRow).where(TrialRow.study_id == study_id,
                                                               TrialRow.status.in_((RUNNING, INTERRUPTED))))
                    if r.number not in keep]
            for row in rows:
                row.status, row.error, row.finished_at = FAILED, reason, now()
            s.commit()
            return [r.number for r in rows]

    @_writes
    def interrupt_running(self, study_id: int, reason: str) -> list[int]:
        """Mark trials still ``running`` as interrupted (a signal, a lost lease): Optuna keeps them
        running and ``sweep resume`` continues each from its checkpoint. Returns their numbers."""
        with self.session() as s:
            rows = list(s.scalars(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.status == RUNNING)))
            for row in rows:
                row.status, row.error = INTERRUPTED, reason
            s.commit()
            return [r.number for r in rows]

    @_writes
    def restart_trial(self, study_id: int, number: int, note: str | None, after_epoch: int = 0) -> None:
        """A trial runs again from epoch ``after_epoch + 1`` (a retry or a resume from its
        checkpoint; 0: from the start): the epochs after that go, ``note`` says why."""
        with self.session() as s:
            row = TrialRow.find_or_raise(s, study_id, number)
            kept = sorted((e for e in row.epochs if e.epoch <= after_epoch), key=lambda e: e.epoch)
            for epoch in list(row.epochs):
                if epoch.epoch > after_epoch:
                    s.delete(epoch)
            for scored in [*row.results, *row.utterances]:  # the final report writes them again
                s.delete(scored)
            row.status, row.finished_at, row.error = RUNNING, None, note[:2000] if note else None
            row.epochs_done = kept[-1].epoch if kept else 0
            row.valid_si_snri = kept[-1].valid_si_snri if kept else None
            row.objective_value = None
            s.commit()

    @_writes
    def set_pareto_ranks(self, study_id: int, ranks: dict[int, int]) -> None:
        """Each trial's Pareto rank (0: on the front); trials not in ``ranks`` get none."""
        with self.session() as s:
            for row in s.scalars(select(TrialRow).where(TrialRow.study_id == study_id)):
                row.pareto_rank = ranks.get(row.number)
            s.commit()

    @_reads(_no_study)
    def kept_checkpoint(self, study_name: str, number: int | None = None) -> TrialRow:
        """The row of trial ``number`` of a study, or of its best complete trial by the study's
        objective when ``number`` is None, with a kept checkpoint. Raises LookupError (one line)."""
        from sweep.objective import parse_objective

        study = self.study(study_name)
        if study is None:
            raise LookupError(f"no study named {study_name!r} in {safe_url(self.url)}")
        rows = self.trials(study.id)
        if number is not None:
            row = next((r for r in rows if r.number == number), None)
            if row is None:
                raise LookupError(f"study {study_name} has no trial {number} (it has {len(rows)})")
            if not row.checkpoint_uri:
                raise LookupError(f"trial {number} of study {study_name} ({row.status}) has no kept checkpoint; "
                                  "kept ones: " + (", ".join(str(r.number) for r in rows if r.checkpoint_uri)
                                                   or "none"))
            return row
        kept = [r for r in rows if r.status == COMPLETE and r.checkpoint_uri]
        best = parse_objective(study.objective).best(kept, lambda r: r.objective_value)
        if best is None:
            raise LookupError(f"study {study_name} has no complete trial with a kept checkpoint")
        return best

    @_reads(lambda study_id: [])
    def trials(self, study_id: int) -> list[TrialRow]:
        return self._objects(TrialRow, TrialRow.study_id == study_id, order_by=TrialRow.number)

    @_reads(lambda study_id: {k: 0 for k in STATUSES})
    def counts(self, study_id: int) -> dict[str, int]:
        rows = []
        if "sweep_trial" in self._have:
            with self.session() as s:
                rows = s.execute(select(TrialRow.status, func.count()).where(TrialRow.study_id == study_id)
                                 .group_by(TrialRow.status)).all()
        out = {k: 0 for k in STATUSES}
        out.update({k: n for k, n in rows})
        return out

    # -- oracle references ------------------------------------------------------------------
    @_writes
    def add_oracle(self, rows: Iterable[dict]) -> None:
        """Insert or replace oracle rows (keys: dataset, condition, mask, n_utterances, ...).

        Two drivers on one dataset may score the same oracle at once; the second to write
        finds the first's rows and replaces them (same data), instead of failing on the key."""
        from sqlalchemy.exc import IntegrityError

        rows = list(rows)
        for attempt in range(3):
            try:
                with self.session() as s:
                    for r in rows:
                        old = OracleRow.find(s, r["dataset"], r["condition"], r["mask"], r["n_utterances"])
                        if old is not None:
                            s.delete(old)
                            s.flush()
                        s.add(OracleRow(code_version=code_version(), **r))
                    s.commit()
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    # -- frames for reports -----------------------------------------------------------------
    @_reads(lambda dataset=None: _empty_frame(OracleRow))
    def oracle_frame(self, dataset: str | None = None):
        """Oracle rows as a pandas DataFrame (all datasets, or one resolved root)."""
        where = () if dataset is None else (OracleRow.dataset == dataset,)
        with self.engine.connect() as c:
            return self._frame(c, OracleRow, *where, order_by=OracleRow.id)

    @_reads(_no_study)
    def frames(self, study_name: str):
        """(trials, results, epochs) pandas DataFrames of one study."""
        study = self._study_or_raise(study_name)
        if "sweep_trial" not in self._have:  # an older database, read as it is
            return _empty_frame(TrialRow), _empty_frame(ResultRow), _empty_frame(EpochRow)
        ids = select(TrialRow.id).where(TrialRow.study_id == study.id).scalar_subquery()
        with self.engine.connect() as c:
            trials = self._frame(c, TrialRow, TrialRow.study_id == study.id)
            results = self._frame(c, ResultRow, ResultRow.trial_id.in_(ids))
            epochs = self._frame(c, EpochRow, EpochRow.trial_id.in_(ids))
        return trials, results, epochs

    @_reads(_no_study)
    def utterance_frame(self, study_name: str):
        """Per-utterance test scores of one study, with the trial's ``number``."""
        study = self._study_or_raise(study_name)
        if "sweep_trial" not in self._have:
            return _empty_frame(UtteranceRow, "number")
        trials = select(TrialRow.id, TrialRow.number).where(TrialRow.study_id == study.id)
        with self.engine.connect() as c:
            numbers = dict(c.execute(trials).all())
            frame = self._frame(c, UtteranceRow, UtteranceRow.trial_id.in_(trials.with_only_columns(TrialRow.id)))
        frame["number"] = frame["trial_id"].map(numbers) if len(frame) else frame["trial_id"]
        return frame

    def _study_or_raise(self, name: str) -> StudyRow:
        study = self.study(name)
        if study is None:
            raise KeyError(name)
        return study
