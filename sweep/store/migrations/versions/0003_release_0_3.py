"""release 0.3: checkpoints (where a trial's is, its size, the epochs of its state and weights), time per phase

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Nullable columns only (no table copy, even on SQLite): on ``sweep_trial`` the checkpoint's
URI, size, ``checkpoint_epoch`` and ``best_epoch``, ``valid_s`` and ``pareto_rank``; on ``sweep_study``
``phases`` (JSON). Trials of older releases kept no checkpoint: their columns stay empty.
The new status values ``interrupted`` and ``infeasible`` need no schema change (``status`` is a
string).

Forward only: an older release refuses a newer database instead of downgrading it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


NEW_COLUMNS = {
    "sweep_trial": lambda: [sa.Column("checkpoint_uri", sa.Text), sa.Column("checkpoint_bytes", sa.BigInteger),
                            sa.Column("checkpoint_epoch", sa.Integer), sa.Column("best_epoch", sa.Integer),
                            sa.Column("valid_s", sa.Float), sa.Column("pareto_rank", sa.Integer)],
    "sweep_study": lambda: [sa.Column("phases", sa.JSON)],
}


def upgrade() -> None:
    for table, columns in NEW_COLUMNS.items():
        have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
        for column in columns():
            if column.name not in have:
                op.add_column(table, column)


def downgrade() -> None:
    raise NotImplementedError("sweep's migrations are forward only")
