"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 00:48:19.124838
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('ip_address', sa.String(length=45), nullable=True),
    sa.Column('country', sa.String(length=255), nullable=True),
    sa.Column('city', sa.String(length=255), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clicks'))
    )
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.create_index('ix_clicks_link_id', ['link_id'], unique=False)
        batch_op.create_index('ix_clicks_message_id', ['message_id'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('code', sa.Integer(), nullable=True),
    sa.Column('output', sa.String(length=512), nullable=True),
    sa.Column('details', sa.String(length=512), nullable=True),
    sa.Column('sent_with_ssl', sa.Boolean(), nullable=False),
    sa.Column('log_id', sa.String(length=100), nullable=True),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.Column('time', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_message_id', ['message_id'], unique=False)

    op.create_table('links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=16), nullable=False),
    sa.Column('hash', sa.String(length=40), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_links'))
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index('ix_links_message_id', ['message_id'], unique=False)
        batch_op.create_index('ix_links_token', ['token'], unique=False)

    op.create_table('live_stats',
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('minute', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.PrimaryKeyConstraint('type', 'minute', name=op.f('pk_live_stats'))
    )
    op.create_table('loads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('ip_address', sa.String(length=45), nullable=True),
    sa.Column('country', sa.String(length=255), nullable=True),
    sa.Column('city', sa.String(length=255), nullable=True),
    sa.Column('user_agent', sa.String(length=255), nullable=True),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loads'))
    )
    with op.batch_alter_table('loads', schema=None) as batch_op:
        batch_op.create_index('ix_loads_message_id', ['message_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('rcpt_to', sa.String(length=255), nullable=True),
    sa.Column('mail_from', sa.String(length=255), nullable=True),
    sa.Column('subject', sa.String(length=255), nullable=True),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.Column('route_id', sa.Integer(), nullable=True),
    sa.Column('domain_id', sa.Integer(), nullable=True),
    sa.Column('credential_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('held', sa.Boolean(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('last_delivery_attempt', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=True),
    sa.Column('raw_table', sa.String(length=32), nullable=True),
    sa.Column('raw_headers_id', sa.Integer(), nullable=True),
    sa.Column('raw_body_id', sa.Integer(), nullable=True),
    sa.Column('inspected', sa.Boolean(), nullable=False),
    sa.Column('spam', sa.Boolean(), nullable=False),
    sa.Column('spam_score', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=False),
    sa.Column('threat', sa.Boolean(), nullable=False),
    sa.Column('threat_details', sa.String(length=255), nullable=True),
    sa.Column('bounce', sa.Boolean(), nullable=False),
    sa.Column('bounce_for_id', sa.Integer(), nullable=True),
    sa.Column('tag', sa.String(length=255), nullable=True),
    sa.Column('loaded', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=True),
    sa.Column('clicked', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=True),
    sa.Column('received_with_ssl', sa.Boolean(), nullable=True),
    sa.Column('hold_expiry', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=True),
    sa.Column('tracked_links', sa.Integer(), nullable=False),
    sa.Column('tracked_images', sa.Integer(), nullable=False),
    sa.Column('parsed', sa.Boolean(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=True),
    sa.Column('endpoint_type', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_bounce_for_id', ['bounce_for_id'], unique=False)
        batch_op.create_index('ix_messages_held', ['held'], unique=False)
        batch_op.create_index('ix_messages_mail_from', ['mail_from', 'timestamp'], unique=False)
        batch_op.create_index('ix_messages_message_id', ['message_id'], unique=False)
        batch_op.create_index('ix_messages_raw_table', ['raw_table'], unique=False)
        batch_op.create_index('ix_messages_rcpt_to', ['rcpt_to', 'timestamp'], unique=False)
        batch_op.create_index('ix_messages_scope_spam', ['scope', 'spam', 'timestamp'], unique=False)
        batch_op.create_index('ix_messages_scope_status', ['scope', 'spam', 'status', 'timestamp'], unique=False)
        batch_op.create_index('ix_messages_scope_tag', ['scope', 'spam', 'tag', 'timestamp'], unique=False)
        batch_op.create_index('ix_messages_token', ['token'], unique=False)

    op.create_table('raw_message_sizes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('table_name', sa.String(length=32), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_raw_message_sizes')),
    sa.UniqueConstraint('table_name', name=op.f('uq_raw_message_sizes_table_name'))
    )
    op.create_table('spam_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Numeric(precision=8, scale=2, asdecimal=False), nullable=False),
    sa.Column('code', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spam_checks'))
    )
    with op.batch_alter_table('spam_checks', schema=None) as batch_op:
        batch_op.create_index('ix_spam_checks_message_id', ['message_id'], unique=False)

    op.create_table('stats_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('time', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('outgoing', sa.Integer(), nullable=False),
    sa.Column('spam', sa.Integer(), nullable=False),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.Column('held', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_daily')),
    sa.UniqueConstraint('time', name=op.f('uq_stats_daily_time'))
    )
    op.create_table('stats_hourly',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('time', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('outgoing', sa.Integer(), nullable=False),
    sa.Column('spam', sa.Integer(), nullable=False),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.Column('held', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_hourly')),
    sa.UniqueConstraint('time', name=op.f('uq_stats_hourly_time'))
    )
    op.create_table('stats_monthly',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('time', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('outgoing', sa.Integer(), nullable=False),
    sa.Column('spam', sa.Integer(), nullable=False),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.Column('held', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_monthly')),
    sa.UniqueConstraint('time', name=op.f('uq_stats_monthly_time'))
    )
    op.create_table('stats_yearly',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('time', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('outgoing', sa.Integer(), nullable=False),
    sa.Column('spam', sa.Integer(), nullable=False),
    sa.Column('bounces', sa.Integer(), nullable=False),
    sa.Column('held', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_yearly')),
    sa.UniqueConstraint('time', name=op.f('uq_stats_yearly_time'))
    )
    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('reason', sa.String(length=255), nullable=True),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.Column('keep_until', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    sa.UniqueConstraint('type', 'address', name=op.f('uq_suppressions_type_address'))
    )
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppressions_keep_until'), ['keep_until'], unique=False)

    op.create_table('webhook_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uuid', sa.String(length=36), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=True),
    sa.Column('timestamp', sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=True),
    sa.Column('will_retry', sa.Boolean(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=True),
    sa.Column('webhook_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_requests'))
    )
    with op.batch_alter_table('webhook_requests', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_requests_event', ['event'], unique=False)
        batch_op.create_index('ix_webhook_requests_timestamp', ['timestamp'], unique=False)
        batch_op.create_index('ix_webhook_requests_uuid', ['uuid'], unique=False)
        batch_op.create_index('ix_webhook_requests_webhook_id', ['webhook_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_requests_webhook_id')
        batch_op.drop_index('ix_webhook_requests_uuid')
        batch_op.drop_index('ix_webhook_requests_timestamp')
        batch_op.drop_index('ix_webhook_requests_event')

    op.drop_table('webhook_requests')
    with op.batch_alter_table('suppressions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppressions_keep_until'))

    op.drop_table('suppressions')
    op.drop_table('stats_yearly')
    op.drop_table('stats_monthly')
    op.drop_table('stats_hourly')
    op.drop_table('stats_daily')
    with op.batch_alter_table('spam_checks', schema=None) as batch_op:
        batch_op.drop_index('ix_spam_checks_message_id')

    op.drop_table('spam_checks')
    op.drop_table('raw_message_sizes')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_token')
        batch_op.drop_index('ix_messages_scope_tag')
        batch_op.drop_index('ix_messages_scope_status')
        batch_op.drop_index('ix_messages_scope_spam')
        batch_op.drop_index('ix_messages_rcpt_to')
        batch_op.drop_index('ix_messages_raw_table')
        batch_op.drop_index('ix_messages_message_id')
        batch_op.drop_index('ix_messages_mail_from')
        batch_op.drop_index('ix_messages_held')
        batch_op.drop_index('ix_messages_bounce_for_id')

    op.drop_table('messages')
    with op.batch_alter_table('loads', schema=None) as batch_op:
        batch_op.drop_index('ix_loads_message_id')

    op.drop_table('loads')
    op.drop_table('live_stats')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index('ix_links_token')
        batch_op.drop_index('ix_links_message_id')

    op.drop_table('links')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_message_id')

    op.drop_table('deliveries')
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.drop_index('ix_clicks_message_id')
        batch_op.drop_index('ix_clicks_link_id')

    op.drop_table('clicks')
