"""queue indexes: the requeuer's due rows and the queue gauges without scanning the queue

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 23:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("queued_messages", schema=None) as batch_op:
        batch_op.create_index("ix_queued_messages_publish", ["published_at", "retry_after"], unique=False)
        batch_op.create_index(
            "ix_queued_messages_queue_state", ["queue", "locked_at", "retry_after", "created_at"], unique=False
        )
    with op.batch_alter_table("webhook_requests", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_requests_publish", ["published_at", "retry_after"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_requests_publish")
    with op.batch_alter_table("queued_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_queued_messages_queue_state")
        batch_op.drop_index("ix_queued_messages_publish")
