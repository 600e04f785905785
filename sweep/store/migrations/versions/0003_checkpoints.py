"""checkpoints: where a trial's kept checkpoint is, its size, the epoch of its state and of its weights

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Four nullable columns on ``sweep_trial`` (no table copy, even on SQLite). Trials of older
releases kept no checkpoint: their columns stay empty. The new status value ``interrupted``
needs no schema change (``status`` is a string).

Forward only: an older release refuses a newer database instead of downgrading it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sweep_trial")}
    for column in (sa.Column("checkpoint_uri", sa.Text), sa.Column("checkpoint_bytes", sa.BigInteger),
                   sa.Column("checkpoint_epoch", sa.Integer), sa.Column("best_epoch", sa.Integer)):
        if column.name not in have:
            op.add_column("sweep_trial", column)


def downgrade() -> None:
    raise NotImplementedError("sweep's migrations are forward only")
