"""invitations: a hashed token, the organization and role offered, and who invited

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_invites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("organization_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("admin", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("invited_by_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_user_invites_token_hash"), ["token_hash"])
        batch_op.create_index(batch_op.f("ix_user_invites_email_address"), ["email_address"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_user_invites_organization_id_organizations"),
            "organizations",
            ["organization_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_user_invites_invited_by_id_users"), "users", ["invited_by_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("user_invites", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_user_invites_invited_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_user_invites_organization_id_organizations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_user_invites_email_address"))
        batch_op.drop_constraint(batch_op.f("uq_user_invites_token_hash"), type_="unique")
        batch_op.drop_column("invited_by_id")
        batch_op.drop_column("admin")
        batch_op.drop_column("organization_id")
        batch_op.drop_column("token_hash")
