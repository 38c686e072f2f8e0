"""dkim key rotation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:52:46.488266
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dkim_pending_private_key', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('dkim_pending_identifier_string', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_column('dkim_pending_identifier_string')
        batch_op.drop_column('dkim_pending_private_key')

