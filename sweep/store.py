"""The result store: ``sweep_*`` tables beside Optuna's own, in one SQL database.

Only the driver writes here (see ARCHITECTURE.md: one writer), so SQLite stays correct even
when trials run on many machines; PostgreSQL serves teams and several drivers. Columns that the
leaderboard sorts or filters on are typed; only the full parameter dict is JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import (JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                        create_engine, event, func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import sweep

DEFAULT_STORAGE = "sqlite:///sweep.db"

RUNNING, COMPLETE, PRUNED, FAILED = "running", "complete", "pruned", "failed"
STATUSES = (RUNNING, COMPLETE, PRUNED, FAILED)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def code_version() -> str:
    """Package version plus the git commit when run from a checkout (``0.1.0+abc1234``)."""
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    return f"{sweep.__version__}+{rev}" if rev else sweep.__version__


class Base(DeclarativeBase):
    pass


class StudyRow(Base):
    __tablename__ = "sweep_study"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    family: Mapped[str] = mapped_column(String(64))
    spec_path: Mapped[str] = mapped_column(Text)
    spec_yaml: Mapped[str] = mapped_column(Text)
    sampler: Mapped[str] = mapped_column(String(16))
    scheduler: Mapped[str] = mapped_column(String(16))
    n_trials: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[str] = mapped_column(Text)
    objective: Mapped[str] = mapped_column(String(64))
    budget: Mapped[str | None] = mapped_column(String(64))  # the spec's chosen `budgets` entry, if any
    driver: Mapped[str | None] = mapped_column(String(200))  # "host:pid" of the driver running it now
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # that driver's last sign of life
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    code_version: Mapped[str] = mapped_column(String(64))
    trials: Mapped[list["TrialRow"]] = relationship(back_populates="study")


class TrialRow(Base):
    __tablename__ = "sweep_trial"
    __table_args__ = (UniqueConstraint("study_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("sweep_study.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # Optuna's trial number in the same database
    ray_trial_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    mask: Mapped[str | None] = mapped_column(String(16))
    activation: Mapped[str | None] = mapped_column(String(16))
    params: Mapped[dict] = mapped_column(JSON)
    param_count: Mapped[int | None] = mapped_column(Integer)
    valid_si_snri: Mapped[float | None] = mapped_column(Float)  # last reported, dB
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(64))
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    wall_s: Mapped[float | None] = mapped_column(Float)
    train_s: Mapped[float | None] = mapped_column(Float)
    eval_s: Mapped[float | None] = mapped_column(Float)
    study: Mapped[StudyRow] = relationship(back_populates="trials")
    epochs: Mapped[list["EpochRow"]] = relationship(back_populates="trial", cascade="all, delete-orphan")
    results: Mapped[list["ResultRow"]] = relationship(back_populates="trial", cascade="all, delete-orphan")
    utterances: Mapped[list["UtteranceRow"]] = relationship(cascade="all, delete-orphan")


class EpochRow(Base):
    __tablename__ = "sweep_epoch"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("sweep_trial.id"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    valid_si_snri: Mapped[float | None] = mapped_column(Float)  # dB
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    trial: Mapped[TrialRow] = relationship(back_populates="epochs")


class ResultRow(Base):
    """Test-set scores of one trial, one row per (condition, assignment); means over utterances."""

    __tablename__ = "sweep_result"
    __table_args__ = (UniqueConstraint("trial_id", "condition", "assignment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("sweep_trial.id"), index=True)
    condition: Mapped[str] = mapped_column(String(16))  # closed | open
    assignment: Mapped[str] = mapped_column(String(16))  # optimal | default
    si_snri: Mapped[float] = mapped_column(Float)  # dB
    sdri: Mapped[float] = mapped_column(Float)  # dB
    n_utterances: Mapped[int] = mapped_column(Integer)
    trial: Mapped[TrialRow] = relationship(back_populates="results")


class UtteranceRow(Base):
    """Test-set scores of one utterance of one trial (dB), so reports can give confidence
    intervals and compare trials on the same utterances (a paired test)."""

    __tablename__ = "sweep_utterance"
    __table_args__ = (UniqueConstraint("trial_id", "condition", "assignment", "utterance"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("sweep_trial.id"), index=True)
    condition: Mapped[str] = mapped_column(String(16))  # closed | open
    assignment: Mapped[str] = mapped_column(String(16))  # optimal | default
    utterance: Mapped[str] = mapped_column(String(255))  # file name without .wav
    si_snri: Mapped[float] = mapped_column(Float)  # dB
    sdri: Mapped[float] = mapped_column(Float)  # dB
    sir: Mapped[float | None] = mapped_column(Float)  # dB, SDR permutation, mean over sources
    sar: Mapped[float | None] = mapped_column(Float)  # dB


class OracleRow(Base):
    """Oracle-mask reference scores on one dataset's test condition (means and 95% CI half-widths, dB).

    Keyed by the resolved dataset root, the condition, the mask and the number of utterances
    scored (the first ``n_utterances`` of the condition, the ones trials with the same cap see).
    """

    __tablename__ = "sweep_oracle"
    __table_args__ = (UniqueConstraint("dataset", "condition", "mask", "n_utterances"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(500), index=True)
    condition: Mapped[str] = mapped_column(String(16))
    mask: Mapped[str] = mapped_column(String(16))  # IPSM | IRM | IBM | WFM
    n_utterances: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int] = mapped_column(Integer)
    stft: Mapped[str] = mapped_column(String(64))  # e.g. "256/64/256 sqrt-hann" (n_fft/hop/win)
    si_snri: Mapped[float] = mapped_column(Float)
    si_snri_ci: Mapped[float | None] = mapped_column(Float)
    sdri: Mapped[float] = mapped_column(Float)
    sdri_ci: Mapped[float | None] = mapped_column(Float)
    sir: Mapped[float | None] = mapped_column(Float)
    sar: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    code_version: Mapped[str] = mapped_column(String(64))


def _add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an older version up to date: ``create_all`` makes missing
    tables but never alters existing ones, so add the nullable columns that are new since."""
    from sqlalchemy import inspect, text

    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for col in table.columns:
                if col.name not in have and col.nullable:
                    kind = col.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {kind}'))


def make_engine(url: str) -> Engine:
    """An engine for any SQLAlchemy URL; SQLite files get a busy timeout and WAL journaling."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60} if url.startswith("sqlite") else {})
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record) -> None:  # pragma: no cover - trivial
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


class Store:
    """Reads and writes the ``sweep_*`` tables. Every write commits at once: nothing is lost on a crash."""

    def __init__(self, url: str = DEFAULT_STORAGE) -> None:
        self.url = url
        self.engine = make_engine(url)
        Base.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)

    # Tune pickles its callbacks and searcher with the experiment state: travel as the URL.
    def __getstate__(self) -> dict:
        return {"url": self.url}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"])

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- studies ----------------------------------------------------------------------------
    def study(self, name: str) -> StudyRow | None:
        with self.session() as s:
            return s.scalar(select(StudyRow).where(StudyRow.name == name))

    def studies(self) -> list[StudyRow]:
        with self.session() as s:
            return list(s.scalars(select(StudyRow).order_by(StudyRow.id)))

    def ensure_study(self, name: str, spec: Any) -> StudyRow:
        """The study row for ``name``; created from the spec on first launch."""
        with self.session() as s:
            row = s.scalar(select(StudyRow).where(StudyRow.name == name))
            if row is None:
                row = StudyRow(name=name, family=spec.family, spec_path=spec.path, spec_yaml=spec.text,
                               sampler=spec.sampler, scheduler=spec.scheduler, n_trials=spec.n_trials,
                               seed=spec.seed, dataset=json.dumps(spec.dataset.__dict__),
                               objective=f"{spec.objective_mode} {spec.objective_metric}",
                               budget=getattr(spec, "budget", None), code_version=code_version())
                s.add(row)
                s.commit()
            return row

    # -- trials -----------------------------------------------------------------------------
    def trial_queued(self, study_id: int, number: int, family: str, params: dict, seed: int) -> None:
        with self.session() as s:
            row = s.scalar(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number))
            if row is None:
                row = TrialRow(study_id=study_id, number=number, status=RUNNING, family=family,
                               params=params, mask=_as_str(params.get("mask_type", params.get("mask"))),
                               activation=_as_str(params.get("activation")), seed=seed,
                               code_version=code_version())
                s.add(row)
            s.commit()

    def update_trial(self, study_id: int, number: int, **values: Any) -> None:
        with self.session() as s:
            row = s.scalar(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number))
            if row is None:
                raise KeyError(f"no trial {number} in study {study_id}")
            for k, v in values.items():
                setattr(row, k, v)
            s.commit()

    def add_epoch(self, study_id: int, number: int, epoch: int, train_loss: float | None,
                  valid_si_snri: float | None, elapsed_s: float | None) -> None:
        with self.session() as s:
            row = s.scalar(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number))
            exists = s.scalar(select(EpochRow).where(EpochRow.trial_id == row.id, EpochRow.epoch == epoch))
            if exists is None:
                s.add(EpochRow(trial_id=row.id, epoch=epoch, train_loss=train_loss,
                               valid_si_snri=valid_si_snri, elapsed_s=elapsed_s))
            row.epochs_done = max(row.epochs_done or 0, epoch)
            row.valid_si_snri = valid_si_snri
            s.commit()

    def add_results(self, study_id: int, number: int, results: Iterable[dict]) -> None:
        with self.session() as s:
            row = s.scalar(select(TrialRow).where(TrialRow.study_id == study_id, TrialRow.number == number))
            for r in results:
                s.add(ResultRow(trial_id=row.id, condition=r["condition"], assignment=r["assignment"],
                                si_snri=r["si_snri"], sdri=r["sdri"], n_utterances=r["n_utterances"]))
                for u in r.get("utterances") or ():
                    s.add(UtteranceRow(trial_id=row.id, condition=r["condition"], assignment=r["assignment"],
                                       utterance=str(u["name"]), si_snri=u["si_snri"], sdri=u["sdri"],
                                       sir=u.get("sir"), sar=u.get("sar")))
            s.commit()

    # -- oracle references ------------------------------------------------------------------
    def add_oracle(self, rows: Iterable[dict]) -> None:
        """Insert or replace oracle rows (keys: dataset, condition, mask, n_utterances, ...)."""
        with self.session() as s:
            for r in rows:
                old = s.scalar(select(OracleRow).where(
                    OracleRow.dataset == r["dataset"], OracleRow.condition == r["condition"],
                    OracleRow.mask == r["mask"], OracleRow.n_utterances == r["n_utterances"]))
                if old is not None:
                    s.delete(old)
                    s.flush()
                s.add(OracleRow(code_version=code_version(), **r))
            s.commit()

    def oracle_frame(self, dataset: str | None = None):
        """Oracle rows as a pandas DataFrame (all datasets, or one resolved root)."""
        import pandas as pd

        query = select(OracleRow)
        if dataset is not None:
            query = query.where(OracleRow.dataset == dataset)
        with self.engine.connect() as c:
            return pd.read_sql(query.order_by(OracleRow.id), c)

    # -- the one driver of a study -------------------------------------------------------
    def claim_study(self, study_id: int, me: str, stale_s: float = 90.0) -> None:
        """Become the study's driver, or raise StudyBusy if another live driver holds it.

        A driver that died (same host and its pid is gone, or no heartbeat for ``stale_s``)
        no longer holds the study: resuming after a crash needs no manual unlock."""
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            if row.driver and row.driver != me and row.heartbeat_at is not None:
                age = (now() - row.heartbeat_at).total_seconds()
                if age < stale_s and _driver_alive(row.driver):
                    raise StudyBusy(f"study {row.name} is being run by driver {row.driver} (last heartbeat "
                                    f"{age:.0f} s ago); stop it or wait for it to finish")
            row.driver, row.heartbeat_at = me, now()
            s.commit()

    def heartbeat(self, study_id: int, me: str) -> None:
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            if row.driver == me:
                row.heartbeat_at = now()
                s.commit()

    def release_study(self, study_id: int, me: str) -> None:
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            if row.driver == me:
                row.driver, row.heartbeat_at = None, None
                s.commit()

    def set_study_data_root(self, study_id: int, root: str) -> None:
        """Record the resolved dataset folder in the study's dataset JSON (the report looks up
        the oracle rows by it; the JSON keeps old databases readable without a new column)."""
        with self.session() as s:
            row = s.get(StudyRow, study_id)
            try:
                data = json.loads(row.dataset or "{}")
            except ValueError:
                data = {}
            if data.get("data_root") != root:
                row.dataset = json.dumps({**data, "data_root": root})
                s.commit()

    def fail_running(self, study_id: int, reason: str) -> list[int]:
        """Mark trials left ``running`` (the driver died under them) as failed; returns their numbers."""
        with self.session() as s:
            rows = list(s.scalars(select(TrialRow).where(TrialRow.study_id == study_id,
                                                         TrialRow.status == RUNNING)))
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

    # -- frames for reports -----------------------------------------------------------------
    def frames(self, study_name: str):
        """(trials, results, epochs) pandas DataFrames of one study."""
        import pandas as pd

        study = self.study(study_name)
        if study is None:
            raise KeyError(study_name)
        with self.engine.connect() as c:
            trials = pd.read_sql(select(TrialRow).where(TrialRow.study_id == study.id), c)
            ids = [int(i) for i in trials["id"]] or [-1]
            results = pd.read_sql(select(ResultRow).where(ResultRow.trial_id.in_(ids)), c)
            epochs = pd.read_sql(select(EpochRow).where(EpochRow.trial_id.in_(ids)), c)
        return trials, results, epochs

    def utterance_frame(self, study_name: str):
        """Per-utterance test scores of one study, with the trial's ``number``."""
        import pandas as pd

        study = self.study(study_name)
        if study is None:
            raise KeyError(study_name)
        query = (select(UtteranceRow, TrialRow.number).join(TrialRow, UtteranceRow.trial_id == TrialRow.id)
                 .where(TrialRow.study_id == study.id))
        with self.engine.connect() as c:
            return pd.read_sql(query, c)


class StudyBusy(RuntimeError):
    """Another driver is running the study right now."""


def driver_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _driver_alive(driver: str) -> bool:
    """False when the driver ran on this host and its process is gone; True otherwise (a
    driver on another host is judged by its heartbeat alone)."""
    import socket

    host, _, pid = driver.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _as_str(v: Any) -> str | None:
    return None if v is None else str(v)


def default_storage() -> str:
    return os.environ.get("SWEEP_STORAGE", DEFAULT_STORAGE)
