"""task runs: the schedule and the latest run of each scheduled task

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mariadb").with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    with op.batch_alter_table("scheduled_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("last_started_at", TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("last_duration", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("last_outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduled_tasks", schema=None) as batch_op:
        batch_op.drop_column("last_count")
        batch_op.drop_column("last_error")
        batch_op.drop_column("last_outcome")
        batch_op.drop_column("last_duration")
        batch_op.drop_column("last_started_at")
        batch_op.drop_column("schedule")
