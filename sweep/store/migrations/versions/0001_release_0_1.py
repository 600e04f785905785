"""release 0.1: the sweep tables as release 0.1.0 created them

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Frozen: this is what 0.1's ``create_all`` made (commit 16a7da8, sweep/store.py), written out
here so it never follows later edits of :mod:`sweep.store.tables`. :func:`schema` is also what
:func:`sweep.store.engine.upgrade` completes an unversioned 0.1 database to before stamping it
with this revision (0.1's first databases had ``sweep_study`` alone, without ``budget``,
``driver`` or ``heartbeat_at``).

Forward only: an older release refuses a newer database instead of downgrading it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _runs(meta: sa.MetaData) -> None:
    sa.Table(
        "sweep_study", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("family", sa.String(64), nullable=False),
        sa.Column("spec_path", sa.Text, nullable=False),
        sa.Column("spec_yaml", sa.Text, nullable=False),
        sa.Column("sampler", sa.String(16), nullable=False),
        sa.Column("scheduler", sa.String(16), nullable=False),
        sa.Column("n_trials", sa.Integer, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("objective", sa.String(64), nullable=False),
        sa.Column("budget", sa.String(64)),
        sa.Column("driver", sa.String(200)),
        sa.Column("heartbeat_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
    )
    sa.Table(
        "sweep_trial", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer, sa.ForeignKey("sweep_study.id"), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("ray_trial_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("family", sa.String(64), nullable=False, index=True),
        sa.Column("mask", sa.String(16)),
        sa.Column("activation", sa.String(16)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("param_count", sa.Integer),
        sa.Column("valid_si_snri", sa.Float),
        sa.Column("epochs_done", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("device", sa.String(64)),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.Column("queued_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("wall_s", sa.Float),
        sa.Column("train_s", sa.Float),
        sa.Column("eval_s", sa.Float),
        sa.UniqueConstraint("study_id", "number"),
    )
    sa.Table(
        "sweep_epoch", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("sweep_trial.id"), nullable=False, index=True),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("train_loss", sa.Float),
        sa.Column("valid_si_snri", sa.Float),
        sa.Column("elapsed_s", sa.Float),
        sa.UniqueConstraint("trial_id", "epoch"),
    )


def _scores(meta: sa.MetaData) -> None:
    def keyed(name: str, *columns: sa.Column, unique: tuple[str, ...]) -> None:
        sa.Table(name, meta, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("trial_id", sa.Integer, sa.ForeignKey("sweep_trial.id"), nullable=False, index=True),
                 sa.Column("condition", sa.String(16), nullable=False),
                 sa.Column("assignment", sa.String(16), nullable=False), *columns,
                 sa.UniqueConstraint("trial_id", "condition", "assignment", *unique))

    keyed("sweep_result", sa.Column("si_snri", sa.Float, nullable=False), sa.Column("sdri", sa.Float, nullable=False),
          sa.Column("n_utterances", sa.Integer, nullable=False), unique=())
    keyed("sweep_utterance", sa.Column("utterance", sa.String(255), nullable=False),
          sa.Column("si_snri", sa.Float, nullable=False), sa.Column("sdri", sa.Float, nullable=False),
          sa.Column("sir", sa.Float), sa.Column("sar", sa.Float), unique=("utterance",))
    sa.Table(
        "sweep_oracle", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset", sa.String(500), nullable=False, index=True),
        sa.Column("condition", sa.String(16), nullable=False),
        sa.Column("mask", sa.String(16), nullable=False),
        sa.Column("n_utterances", sa.Integer, nullable=False),
        sa.Column("sample_rate", sa.Integer, nullable=False),
        sa.Column("stft", sa.String(64), nullable=False),
        sa.Column("si_snri", sa.Float, nullable=False),
        sa.Column("si_snri_ci", sa.Float),
        sa.Column("sdri", sa.Float, nullable=False),
        sa.Column("sdri_ci", sa.Float),
        sa.Column("sir", sa.Float),
        sa.Column("sar", sa.Float),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.UniqueConstraint("dataset", "condition", "mask", "n_utterances"),
    )


def schema() -> sa.MetaData:
    """The 0.1 tables, with their indexes (``ix_<table>_<column>``) and unnamed unique constraints."""
    meta = sa.MetaData()
    _runs(meta)
    _scores(meta)
    return meta


def upgrade() -> None:
    schema().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    raise NotImplementedError("sweep's migrations are forward only")
