"""index opens and clicks by time, for the server statistics

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 15:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.create_index("ix_clicks_timestamp", ["timestamp"], unique=False)
    with op.batch_alter_table("loads", schema=None) as batch_op:
        batch_op.create_index("ix_loads_timestamp", ["timestamp"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loads", schema=None) as batch_op:
        batch_op.drop_index("ix_loads_timestamp")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ix_clicks_timestamp")
