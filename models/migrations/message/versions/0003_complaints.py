"""complaints: feedback reports linked to the messages they are about

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("report_message_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("feedback_type", sa.String(length=40), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("arrival_date", sa.String(length=255), nullable=True),
        sa.Column("timestamp", sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index("ix_complaints_message_id", ["message_id"], unique=False)
        batch_op.create_index("ix_complaints_timestamp", ["timestamp"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_timestamp")
        batch_op.drop_index("ix_complaints_message_id")
    op.drop_table("complaints")
