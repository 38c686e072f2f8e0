"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 00:48:19.004920
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('owner_type', sa.Enum('Organization', 'Server', name='ownertype', native_enum=False, length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=True),
    sa.Column('verification_method', sa.Enum('DNS', 'Email', name='verificationmethod', native_enum=False, length=20), nullable=False),
    sa.Column('verification_token', sa.String(length=255), nullable=False),
    sa.Column('verified_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('dkim_private_key', sa.Text(), nullable=False),
    sa.Column('dkim_identifier_string', sa.String(length=32), nullable=False),
    sa.Column('dns_checked_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('spf_status', sa.Enum('OK', 'Missing', 'Invalid', name='dnsstatus', native_enum=False, length=20), nullable=True),
    sa.Column('spf_error', sa.String(length=255), nullable=True),
    sa.Column('dkim_status', sa.Enum('OK', 'Missing', 'Invalid', name='dnsstatus', native_enum=False, length=20), nullable=True),
    sa.Column('dkim_error', sa.String(length=255), nullable=True),
    sa.Column('mx_status', sa.Enum('OK', 'Missing', 'Invalid', name='dnsstatus', native_enum=False, length=20), nullable=True),
    sa.Column('mx_error', sa.String(length=255), nullable=True),
    sa.Column('return_path_status', sa.Enum('OK', 'Missing', 'Invalid', name='dnsstatus', native_enum=False, length=20), nullable=True),
    sa.Column('return_path_error', sa.String(length=255), nullable=True),
    sa.Column('outgoing', sa.Boolean(), nullable=False),
    sa.Column('incoming', sa.Boolean(), nullable=False),
    sa.Column('use_for_any', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domains')),
    sa.UniqueConstraint('owner_type', 'owner_id', 'name', name=op.f('uq_domains_owner_type_owner_id_name')),
    sa.UniqueConstraint('uuid', name=op.f('uq_domains_uuid'))
    )
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.create_index('ix_domains_name', ['name'], unique=False)
        batch_op.create_index(batch_op.f('ix_domains_server_id'), ['server_id'], unique=False)

    op.create_table('ip_pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('permalink', sa.String(length=255), nullable=False),
    sa.Column('default', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ip_pools')),
    sa.UniqueConstraint('permalink', name=op.f('uq_ip_pools_permalink')),
    sa.UniqueConstraint('uuid', name=op.f('uq_ip_pools_uuid'))
    )
    op.create_table('scheduled_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('next_run_after', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_tasks')),
    sa.UniqueConstraint('name', name=op.f('uq_scheduled_tasks_name'))
    )
    op.create_table('statistics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('total_messages', sa.BigInteger(), nullable=False),
    sa.Column('total_outgoing', sa.BigInteger(), nullable=False),
    sa.Column('total_incoming', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statistics'))
    )
    op.create_table('user_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('email_address', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_invites')),
    sa.UniqueConstraint('uuid', name=op.f('uq_user_invites_uuid'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('first_name', sa.String(length=255), nullable=False),
    sa.Column('last_name', sa.String(length=255), nullable=False),
    sa.Column('email_address', sa.String(length=255), nullable=False),
    sa.Column('password_digest', sa.String(length=255), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('email_verification_token', sa.String(length=255), nullable=True),
    sa.Column('email_verified_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('password_reset_token', sa.String(length=255), nullable=True),
    sa.Column('password_reset_token_valid_until', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('admin', sa.Boolean(), nullable=False),
    sa.Column('oidc_uid', sa.String(length=255), nullable=True),
    sa.Column('oidc_issuer', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email_address', name=op.f('uq_users_email_address')),
    sa.UniqueConstraint('uuid', name=op.f('uq_users_uuid'))
    )
    op.create_table('worker_roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('worker', sa.String(length=255), nullable=False),
    sa.Column('acquired_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_roles')),
    sa.UniqueConstraint('role', name=op.f('uq_worker_roles_role'))
    )
    op.create_table('ip_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ip_pool_id', sa.Integer(), nullable=False),
    sa.Column('ipv4', sa.String(length=45), nullable=False),
    sa.Column('ipv6', sa.String(length=45), nullable=True),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['ip_pool_id'], ['ip_pools.id'], name=op.f('fk_ip_addresses_ip_pool_id_ip_pools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ip_addresses')),
    sa.UniqueConstraint('ipv4', name=op.f('uq_ip_addresses_ipv4')),
    sa.UniqueConstraint('ipv6', name=op.f('uq_ip_addresses_ipv6'))
    )
    with op.batch_alter_table('ip_addresses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ip_addresses_ip_pool_id'), ['ip_pool_id'], unique=False)

    op.create_table('ip_pool_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('owner_type', sa.Enum('Organization', 'Server', name='ownertype', native_enum=False, length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('ip_pool_id', sa.Integer(), nullable=False),
    sa.Column('from_text', sa.Text(), nullable=True),
    sa.Column('to_text', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['ip_pool_id'], ['ip_pools.id'], name=op.f('fk_ip_pool_rules_ip_pool_id_ip_pools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ip_pool_rules')),
    sa.UniqueConstraint('uuid', name=op.f('uq_ip_pool_rules_uuid'))
    )
    op.create_table('organizations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('permalink', sa.String(length=255), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('ip_pool_id', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('deleted_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('suspended_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('suspension_reason', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['ip_pool_id'], ['ip_pools.id'], name=op.f('fk_organizations_ip_pool_id_ip_pools'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_organizations_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('permalink', name=op.f('uq_organizations_permalink')),
    sa.UniqueConstraint('uuid', name=op.f('uq_organizations_uuid'))
    )
    op.create_table('organization_ip_pools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('ip_pool_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['ip_pool_id'], ['ip_pools.id'], name=op.f('fk_organization_ip_pools_ip_pool_id_ip_pools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_ip_pools_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_ip_pools')),
    sa.UniqueConstraint('organization_id', 'ip_pool_id', name=op.f('uq_organization_ip_pools_organization_id_ip_pool_id'))
    )
    op.create_table('organization_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('user_type', sa.String(length=20), nullable=False),
    sa.Column('admin', sa.Boolean(), nullable=False),
    sa.Column('all_servers', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_users_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_users')),
    sa.UniqueConstraint('organization_id', 'user_id', 'user_type', name=op.f('uq_organization_users_organization_id_user_id_user_type'))
    )
    with op.batch_alter_table('organization_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_users_user_id'), ['user_id'], unique=False)

    op.create_table('servers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('permalink', sa.String(length=255), nullable=False),
    sa.Column('mode', sa.Enum('Live', 'Development', name='servermode', native_enum=False, length=20), nullable=False),
    sa.Column('ip_pool_id', sa.Integer(), nullable=True),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('send_limit', sa.Integer(), nullable=True),
    sa.Column('send_limit_approaching_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('send_limit_approaching_notified_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('send_limit_exceeded_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('send_limit_exceeded_notified_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('message_retention_days', sa.Integer(), nullable=False),
    sa.Column('raw_message_retention_days', sa.Integer(), nullable=False),
    sa.Column('raw_message_retention_size', sa.Integer(), nullable=False),
    sa.Column('allow_sender', sa.Boolean(), nullable=False),
    sa.Column('spam_threshold', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=False),
    sa.Column('spam_failure_threshold', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=False),
    sa.Column('outbound_spam_threshold', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=True),
    sa.Column('postmaster_address', sa.String(length=255), nullable=True),
    sa.Column('suspended_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('suspension_reason', sa.String(length=255), nullable=True),
    sa.Column('domains_not_to_click_track', sa.Text(), nullable=True),
    sa.Column('log_smtp_data', sa.Boolean(), nullable=False),
    sa.Column('privacy_mode', sa.Boolean(), nullable=False),
    sa.Column('deleted_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['ip_pool_id'], ['ip_pools.id'], name=op.f('fk_servers_ip_pool_id_ip_pools'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_servers_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_servers')),
    sa.UniqueConstraint('organization_id', 'name', name=op.f('uq_servers_organization_id_name')),
    sa.UniqueConstraint('organization_id', 'permalink', name=op.f('uq_servers_organization_id_permalink')),
    sa.UniqueConstraint('token', name=op.f('uq_servers_token')),
    sa.UniqueConstraint('uuid', name=op.f('uq_servers_uuid'))
    )
    op.create_table('address_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('last_used_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_address_endpoints_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address_endpoints')),
    sa.UniqueConstraint('server_id', 'address', name=op.f('uq_address_endpoints_server_id_address')),
    sa.UniqueConstraint('uuid', name=op.f('uq_address_endpoints_uuid'))
    )
    op.create_table('credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('type', sa.Enum('SMTP', 'API', 'SMTP-IP', name='credentialtype', native_enum=False, length=20), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('hold', sa.Boolean(), nullable=False),
    sa.Column('options', sa.Text(), nullable=True),
    sa.Column('last_used_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_credentials_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('key', name=op.f('uq_credentials_key')),
    sa.UniqueConstraint('uuid', name=op.f('uq_credentials_uuid'))
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_server_id'), ['server_id'], unique=False)

    op.create_table('http_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('encoding', sa.Enum('BodyAsJSON', 'FormData', name='httpencoding', native_enum=False, length=20), nullable=False),
    sa.Column('format', sa.Enum('Hash', 'RawMessage', name='httpformat', native_enum=False, length=20), nullable=False),
    sa.Column('strip_replies', sa.Boolean(), nullable=False),
    sa.Column('include_attachments', sa.Boolean(), nullable=False),
    sa.Column('timeout', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('disabled_until', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('last_used_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_http_endpoints_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_http_endpoints')),
    sa.UniqueConstraint('uuid', name=op.f('uq_http_endpoints_uuid'))
    )
    with op.batch_alter_table('http_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_http_endpoints_server_id'), ['server_id'], unique=False)

    op.create_table('queued_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=255), nullable=True),
    sa.Column('locked_by', sa.String(length=255), nullable=True),
    sa.Column('locked_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('retry_after', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('ip_address_id', sa.Integer(), nullable=True),
    sa.Column('route_id', sa.Integer(), nullable=True),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('batch_key', sa.String(length=255), nullable=True),
    sa.Column('queue', sa.String(length=255), nullable=False),
    sa.Column('published_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['ip_address_id'], ['ip_addresses.id'], name=op.f('fk_queued_messages_ip_address_id_ip_addresses'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_queued_messages_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queued_messages'))
    )
    with op.batch_alter_table('queued_messages', schema=None) as batch_op:
        batch_op.create_index('ix_queued_messages_batch', ['batch_key', 'ip_address_id'], unique=False)
        batch_op.create_index('ix_queued_messages_due', ['locked_at', 'retry_after'], unique=False)
        batch_op.create_index('ix_queued_messages_server_message', ['server_id', 'message_id'], unique=False)

    op.create_table('routes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('mode', sa.Enum('Endpoint', 'Accept', 'Hold', 'Bounce', 'Reject', name='routemode', native_enum=False, length=20), nullable=False),
    sa.Column('endpoint_type', sa.Enum('HTTPEndpoint', 'SMTPEndpoint', 'AddressEndpoint', name='endpointtype', native_enum=False, length=20), nullable=True),
    sa.Column('endpoint_id', sa.Integer(), nullable=True),
    sa.Column('spam_mode', sa.Enum('Mark', 'Quarantine', 'Fail', name='spammode', native_enum=False, length=20), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_routes_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_routes_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routes')),
    sa.UniqueConstraint('domain_id', 'name', name=op.f('uq_routes_domain_id_name')),
    sa.UniqueConstraint('token', name=op.f('uq_routes_token')),
    sa.UniqueConstraint('uuid', name=op.f('uq_routes_uuid'))
    )
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routes_server_id'), ['server_id'], unique=False)

    op.create_table('smtp_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('ssl_mode', sa.Enum('None', 'Auto', 'STARTTLS', 'TLS', name='sslmode', native_enum=False, length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('disabled_until', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('last_used_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_smtp_endpoints_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_smtp_endpoints')),
    sa.UniqueConstraint('uuid', name=op.f('uq_smtp_endpoints_uuid'))
    )
    with op.batch_alter_table('smtp_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_smtp_endpoints_server_id'), ['server_id'], unique=False)

    op.create_table('track_domains',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('domain_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('dns_checked_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('dns_status', sa.Enum('OK', 'Missing', 'Invalid', name='dnsstatus', native_enum=False, length=20), nullable=True),
    sa.Column('dns_error', sa.String(length=255), nullable=True),
    sa.Column('ssl_enabled', sa.Boolean(), nullable=False),
    sa.Column('track_clicks', sa.Boolean(), nullable=False),
    sa.Column('track_loads', sa.Boolean(), nullable=False),
    sa.Column('excluded_click_domains', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['domain_id'], ['domains.id'], name=op.f('fk_track_domains_domain_id_domains'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_track_domains_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_track_domains')),
    sa.UniqueConstraint('server_id', 'domain_id', name=op.f('uq_track_domains_server_id_domain_id')),
    sa.UniqueConstraint('uuid', name=op.f('uq_track_domains_uuid'))
    )
    op.create_table('webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('all_events', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('sign', sa.Boolean(), nullable=False),
    sa.Column('last_used_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_webhooks_server_id_servers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks')),
    sa.UniqueConstraint('uuid', name=op.f('uq_webhooks_uuid'))
    )
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhooks_server_id'), ['server_id'], unique=False)

    op.create_table('additional_route_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('route_id', sa.Integer(), nullable=False),
    sa.Column('endpoint_type', sa.Enum('HTTPEndpoint', 'SMTPEndpoint', 'AddressEndpoint', name='endpointtype', native_enum=False, length=20), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['route_id'], ['routes.id'], name=op.f('fk_additional_route_endpoints_route_id_routes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_additional_route_endpoints'))
    )
    with op.batch_alter_table('additional_route_endpoints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_additional_route_endpoints_route_id'), ['route_id'], unique=False)

    op.create_table('webhook_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], name=op.f('fk_webhook_events_webhook_id_webhooks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_events_webhook_id'), ['webhook_id'], unique=False)

    op.create_table('webhook_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.Integer(), nullable=True),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('retry_after', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('locked_by', sa.String(length=255), nullable=True),
    sa.Column('locked_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('published_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=False),
    sa.ForeignKeyConstraint(['server_id'], ['servers.id'], name=op.f('fk_webhook_requests_server_id_servers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], name=op.f('fk_webhook_requests_webhook_id_webhooks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_requests')),
    sa.UniqueConstraint('uuid', name=op.f('uq_webhook_requests_uuid'))
    )
    with op.batch_alter_table('webhook_requests', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_requests_due', ['locked_at', 'retry_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_requests_server_id'), ['server_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_requests_server_id'))
        batch_op.drop_index('ix_webhook_requests_due')

    op.drop_table('webhook_requests')
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_events_webhook_id'))

    op.drop_table('webhook_events')
    with op.batch_alter_table('additional_route_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_additional_route_endpoints_route_id'))

    op.drop_table('additional_route_endpoints')
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhooks_server_id'))

    op.drop_table('webhooks')
    op.drop_table('track_domains')
    with op.batch_alter_table('smtp_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_smtp_endpoints_server_id'))

    op.drop_table('smtp_endpoints')
    with op.batch_alter_table('routes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routes_server_id'))

    op.drop_table('routes')
    with op.batch_alter_table('queued_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_queued_messages_server_message')
        batch_op.drop_index('ix_queued_messages_due')
        batch_op.drop_index('ix_queued_messages_batch')

    op.drop_table('queued_messages')
    with op.batch_alter_table('http_endpoints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_http_endpoints_server_id'))

    op.drop_table('http_endpoints')
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_server_id'))

    op.drop_table('credentials')
    op.drop_table('address_endpoints')
    op.drop_table('servers')
    with op.batch_alter_table('organization_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_users_user_id'))

    op.drop_table('organization_users')
    op.drop_table('organization_ip_pools')
    op.drop_table('organizations')
    op.drop_table('ip_pool_rules')
    with op.batch_alter_table('ip_addresses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ip_addresses_ip_pool_id'))

    op.drop_table('ip_addresses')
    op.drop_table('worker_roles')
    op.drop_table('users')
    op.drop_table('user_invites')
    op.drop_table('statistics')
    op.drop_table('scheduled_tasks')
    op.drop_table('ip_pools')
    with op.batch_alter_table('domains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domains_server_id'))
        batch_op.drop_index('ix_domains_name')

    op.drop_table('domains')
