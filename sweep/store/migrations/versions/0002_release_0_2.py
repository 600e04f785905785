"""release 0.2: the reproducibility record, the objective's value, the node, data_root as a column

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Adds the nullable columns 0.2 introduced, lets test metrics be missing (they come from the
metric registry since 0.2, all nullable), moves the corpus folder that 0.1 kept inside
``sweep_study.dataset`` (JSON) into its own ``data_root`` column, and fills ``objective_value``
of 0.1's trials: 0.1's only objective was ``max valid_si_snri``, so it is their last reported
``valid_si_snri`` (the driver's and ``sweep status``'s "best" read that column).

Each column is added only when it is missing: unversioned databases that the unreleased 0.2
code had already brought up to date column by column are stamped 0001 and come through here.

Forward only: an older release refuses a newer database instead of downgrading it.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _runtime() -> list[sa.Column]:
    return [sa.Column("code_dirty", sa.Boolean), sa.Column("torch_version", sa.String(32)),
            sa.Column("ray_version", sa.String(32)), sa.Column("optuna_version", sa.String(32)),
            sa.Column("device_name", sa.String(128))]


NEW_COLUMNS = {
    "sweep_study": lambda: [sa.Column("data_root", sa.Text), *_runtime()],
    "sweep_trial": lambda: [sa.Column("objective_value", sa.Float), sa.Column("node", sa.String(128)), *_runtime()],
}
NOW_NULLABLE = {"sweep_result": ("si_snri", "sdri"), "sweep_utterance": ("si_snri", "sdri")}


def upgrade() -> None:
    bind = op.get_bind()
    for table, columns in NEW_COLUMNS.items():
        have = {c["name"] for c in sa.inspect(bind).get_columns(table)}
        for column in columns():
            if column.name not in have:
                op.add_column(table, column)  # nullable: no table copy, even on SQLite
    for table, names in NOW_NULLABLE.items():
        # SQLite cannot drop NOT NULL in place: batch mode copies the table (all its columns,
        # indexes and constraints, as reflected); elsewhere it is one ALTER per column.
        with op.batch_alter_table(table) as batch:
            for name in names:
                batch.alter_column(name, existing_type=sa.Float(), nullable=True)
    _data_root_out_of_json(bind)
    _objective_values(bind)


def _data_root_out_of_json(bind: sa.engine.Connection) -> None:
    """0.1's ``set_study_data_root`` wrote the resolved corpus folder into the dataset JSON."""
    study = sa.table("sweep_study", sa.column("id"), sa.column("dataset"), sa.column("data_root"))
    for sid, dataset, root in bind.execute(sa.select(study.c.id, study.c.dataset, study.c.data_root)).all():
        try:
            data = json.loads(dataset or "{}")
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("data_root"):
            moved = data.pop("data_root")
            bind.execute(study.update().where(study.c.id == sid)
                         .values(data_root=root or moved, dataset=json.dumps(data)))


def _objective_values(bind: sa.engine.Connection) -> None:
    """0.1's trials reported their objective in ``valid_si_snri`` only (its one objective)."""
    bind.execute(sa.text("UPDATE sweep_trial SET objective_value = valid_si_snri "
                         "WHERE objective_value IS NULL AND study_id IN (SELECT id FROM sweep_study "
                         "WHERE objective = 'max valid_si_snri')"))


def downgrade() -> None:
    raise NotImplementedError("sweep's migrations are forward only")
