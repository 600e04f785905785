"""The ``sweep_*`` tables: schema and finders only (queries that span tables live in the
repository, :mod:`sweep.store.repository`).

Optuna's own tables live in the same database; a row here is tied to Optuna's trial by the
study name and the trial ``number``. Columns that the leaderboard sorts or filters on are
typed; only the full parameter dict is JSON. Test metrics get one column each, made from
:data:`sweep.scoring.registry.TEST_METRICS`, so a new metric needs no edit here (and older
databases get its column on open, see :mod:`sweep.store.engine`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint,
                        select)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from sweep.scoring.registry import TEST_METRICS, summary_metrics

RUNNING, COMPLETE, PRUNED, FAILED = "running", "complete", "pruned", "failed"
# Stopped by a signal or a lost lease: still running in Optuna, continued by `sweep resume`.
INTERRUPTED = "interrupted"
# Broke a spec constraint (e.g. too many parameters): never trained; Optuna has it as pruned.
INFEASIBLE = "infeasible"
STATUSES = (RUNNING, COMPLETE, PRUNED, FAILED, INTERRUPTED, INFEASIBLE)
NAME_LENGTH = 200  # sweep_study.name; also what a spec's study name may be (sweep.spec checks it)
# The alembic revision these tables are (sweep/store/migrations/versions; docs/store.md). A schema
# change is a new migration there and this constant moved to its revision, in the same commit.
SCHEMA_VERSION = "0004"


def now() -> dt.datetime:
    """Naive UTC: SQLite and PostgreSQL round-trip it alike."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


def _metric_columns(metrics) -> type:
    """A mixin with one nullable float column (dB) per test metric."""
    return type("_MetricColumns", (), {m.name: mapped_column(Float, nullable=True) for m in metrics})


class _Runtime:
    """Where and with what a study or trial ran (the reproducibility record)."""

    code_version: Mapped[str] = mapped_column(String(64))  # package version + git commit
    code_dirty: Mapped[bool | None] = mapped_column(Boolean)  # uncommitted changes in that checkout
    torch_version: Mapped[str | None] = mapped_column(String(32))
    ray_version: Mapped[str | None] = mapped_column(String(32))
    optuna_version: Mapped[str | None] = mapped_column(String(32))
    device_name: Mapped[str | None] = mapped_column(String(128))  # CPU model or GPU name


class StudyRow(_Runtime, Base):
    __tablename__ = "sweep_study"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    family: Mapped[str] = mapped_column(String(64))  # "a+b" for a cross-family study
    spec_path: Mapped[str] = mapped_column(Text)
    spec_yaml: Mapped[str] = mapped_column(Text)
    sampler: Mapped[str] = mapped_column(String(16))
    scheduler: Mapped[str] = mapped_column(String(16))
    n_trials: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[str] = mapped_column(Text)  # the spec's dataset section, JSON
    data_root: Mapped[str | None] = mapped_column(Text)  # the resolved corpus folder the trials read
    objective: Mapped[str] = mapped_column(String(64))  # "max valid_si_snri" (", "-separated: several)
    budget: Mapped[str | None] = mapped_column(String(64))  # the spec's chosen `budgets` entry, if any
    driver: Mapped[str | None] = mapped_column(String(200))  # "host:pid" of the driver running it now
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # that driver's last sign of life
    phases: Mapped[dict | None] = mapped_column(JSON)  # the last launch's seconds per phase (sweep.driver.phases)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    trials: Mapped[list["TrialRow"]] = relationship(back_populates="study")

    @classmethod
    def find(cls, session: Session, name: str) -> "StudyRow | None":
        return session.scalar(select(cls).where(cls.name == name))


class TrialRow(_Runtime, Base):
    __tablename__ = "sweep_trial"
    __table_args__ = (UniqueConstraint("study_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("sweep_study.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # Optuna's trial number in the same database
    ray_trial_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    mask: Mapped[str | None] = mapped_column(String(16))  # the family's mask knob, if it has one
    activation: Mapped[str | None] = mapped_column(String(16))  # the family's mask activation knob
    params: Mapped[dict] = mapped_column(JSON)  # complete: searched + fixed + a variant's own
    param_count: Mapped[int | None] = mapped_column(Integer)
    valid_si_snri: Mapped[float | None] = mapped_column(Float)  # last reported, dB
    objective_value: Mapped[float | None] = mapped_column(Float)  # last reported value of the study's objective
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(64))  # torch device type: cpu | cuda
    node: Mapped[str | None] = mapped_column(String(128))  # "host:ray-node-id" of the node that ran it
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    wall_s: Mapped[float | None] = mapped_column(Float)
    train_s: Mapped[float | None] = mapped_column(Float)  # training epochs, validation included, compile not
    valid_s: Mapped[float | None] = mapped_column(Float)  # the validation part of train_s
    eval_s: Mapped[float | None] = mapped_column(Float)  # test-set scoring
    compile_s: Mapped[float | None] = mapped_column(Float)  # train.compile: the first (compiling) step
    peak_rss_mb: Mapped[float | None] = mapped_column(Float)  # the worker process's peak RSS in the trial, MiB
    peak_gpu_mb: Mapped[float | None] = mapped_column(Float)  # CUDA: peak allocated GPU memory, MiB
    # The trial's checkpoint (sweep.checkpoints): its folder or storage URI while it runs and,
    # once it finished, only if the study keeps it; its size; the epoch whose weights it keeps.
    checkpoint_uri: Mapped[str | None] = mapped_column(Text)
    checkpoint_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checkpoint_epoch: Mapped[int | None] = mapped_column(Integer)  # the epoch its latest state finished
    best_epoch: Mapped[int | None] = mapped_column(Integer)  # best validation SI-SNRi: the tested weights
    pareto_rank: Mapped[int | None] = mapped_column(Integer)  # multi-objective studies: 0 on the Pareto front
    study: Mapped[StudyRow] = relationship(back_populates="trials")
    epochs: Mapped[list["EpochRow"]] = relationship(back_populates="trial", cascade="all, delete-orphan")
    results: Mapped[list["ResultRow"]] = relationship(back_populates="trial", cascade="all, delete-orphan")
    utterances: Mapped[list["UtteranceRow"]] = relationship(cascade="all, delete-orphan")

    @classmethod
    def find(cls, session: Session, study_id: int, number: int) -> "TrialRow | None":
        return session.scalar(select(cls).where(cls.study_id == study_id, cls.number == number))

    @classmethod
    def find_or_raise(cls, session: Session, study_id: int, number: int) -> "TrialRow":
        row = cls.find(session, study_id, number)
        if row is None:
            raise KeyError(f"no trial {number} in study {study_id}")
        return row


class EpochRow(Base):
    """What a trial reported after one epoch (the keys of sweep.objective.EPOCH_METRICS)."""

    __tablename__ = "sweep_epoch"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("sweep_trial.id"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    valid_si_snri: Mapped[float | None] = mapped_column(Float)  # dB
    elapsed_s: Mapped[float | None] = mapped_column(Float)
    trial: Mapped[TrialRow] = relationship(back_populates="epochs")

    @classmethod
    def find(cls, session: Session, trial_id: int, epoch: int) -> "EpochRow | None":
        return session.scalar(select(cls).where(cls.trial_id == trial_id, cls.epoch == epoch))


class ResultRow(_metric_columns(summary_metrics()), Base):
    """Test-set scores of one trial, one row per (condition, assignment); means over utterances (dB)."""

    __tablename__ = "sweep_result"
    __table_args__ = (UniqueConstraint("trial_id", "condition", "assignment"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("sweep_trial.id"), index=True)
    condition: Mapped[str] = mapped_column(String(16))  # closed | open
    assignment: Mapped[str] = mapped_column(String(16))  # optimal | default
    n_utterances: Mapped[int] = mapped_column(Integer)
    trial: Mapped[TrialRow] = relationship(back_populates="results")


class UtteranceRow(_metric_columns(TEST_METRICS), Base):
    """Test-set scores of one utterance of one trial (dB), so reports can give confidence
    intervals and compare trials on the same utterances (a paired test)."""

    __tablename__ = "sweep_utterance"
    __table_args__ = (UniqueConstraint("trial_id", "condition", "assignment", "utterance"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("sweep_trial.id"), index=True)
    condition: Mapped[str] = mapped_column(String(16))  # closed | open
    assignment: Mapped[str] = mapped_column(String(16))  # optimal | default
    utterance: Mapped[str] = mapped_column(String(255))  # file name without .wav


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

    @classmethod
    def find(cls, session: Session, dataset: str, condition: str, mask: str, n_utterances: int) -> "OracleRow | None":
        return session.scalar(select(cls).where(cls.dataset == dataset, cls.condition == condition,
                                                cls.mask == mask, cls.n_utterances == n_utterances))
