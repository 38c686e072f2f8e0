"""api tokens of the management API, and the servers a member may use

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mariadb").with_variant(mysql.DATETIME(fsp=6), "mysql")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        sa.UniqueConstraint("uuid", name=op.f("uq_api_tokens_uuid")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "organization_user_servers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_user_id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_user_id"],
            ["organization_users.id"],
            # The naming convention's name, shortened as SQLAlchemy does past MariaDB's 64 characters.
            name=op.f("fk_organization_user_servers_organization_user_id_organi_898c"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name=op.f("fk_organization_user_servers_server_id_servers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_user_servers")),
        sa.UniqueConstraint(
            "organization_user_id", "server_id", name=op.f("uq_organization_user_servers_organization_user_id_server_id")
        ),
    )
    with op.batch_alter_table("organization_user_servers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organization_user_servers_server_id"), ["server_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("organization_user_servers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_user_servers_server_id"))
    op.drop_table("organization_user_servers")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))
    op.drop_table("api_tokens")
