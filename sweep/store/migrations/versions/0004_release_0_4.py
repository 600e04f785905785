"""release 0.4: a trial's compile time and peak memory

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Nullable columns only (no table copy, even on SQLite), on ``sweep_trial``: ``compile_s`` (the
first training step of a ``train.compile`` trial, no longer counted in ``train_s``),
``peak_rss_mb`` (the worker process's peak resident memory during the trial) and
``peak_gpu_mb`` (CUDA: the peak of allocated GPU memory). Trials of older releases did not
measure them: their columns stay empty.

Forward only: an older release refuses a newer database instead of downgrading it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


NEW_COLUMNS = {
    "sweep_trial": lambda: [sa.Column("compile_s", sa.Float), sa.Column("peak_rss_mb", sa.Float),
                            sa.Column("peak_gpu_mb", sa.Float)],
}


def upgrade() -> None:
    for table, columns in NEW_COLUMNS.items():
        have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
        for column in columns():
            if column.name not in have:
                op.add_column(table, column)


def downgrade() -> None:
    raise NotImplementedError("sweep's migrations are forward only")
