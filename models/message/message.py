"""A message: one recipient of one piece of mail, incoming or outgoing."""

from __future__ import annotations

from sqlalchemy import Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase

# Decimal epoch seconds as Postal stores them, read back as float.
EPOCH = Numeric(18, 6, asdecimal=False)


class Message(MessageBase):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_token", "token"),
        Index("ix_messages_message_id", "message_id"),
        Index("ix_messages_bounce_for_id", "bounce_for_id"),
        Index("ix_messages_held", "held"),
        Index("ix_messages_scope_status", "scope", "spam", "status", "timestamp"),
        Index("ix_messages_scope_tag", "scope", "spam", "tag", "timestamp"),
        Index("ix_messages_scope_spam", "scope", "spam", "timestamp"),
        Index("ix_messages_rcpt_to", "rcpt_to", "timestamp"),
        Index("ix_messages_mail_from", "mail_from", "timestamp"),
        Index("ix_messages_raw_table", "raw_table"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(10))
    rcpt_to: Mapped[str | None] = mapped_column(String(255))
    mail_from: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(255))
    timestamp: Mapped[float] = mapped_column(EPOCH)
    route_id: Mapped[int | None]
    domain_id: Mapped[int | None]
    credential_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(20), default="Pending")
    held: Mapped[bool] = mapped_column(default=False)
    size: Mapped[int | None] = mapped_column(Integer)
    last_delivery_attempt: Mapped[float | None] = mapped_column(EPOCH)
    raw_table: Mapped[str | None] = mapped_column(String(32))
    raw_headers_id: Mapped[int | None]
    raw_body_id: Mapped[int | None]
    inspected: Mapped[bool] = mapped_column(default=False)
    spam: Mapped[bool] = mapped_column(default=False)
    spam_score: Mapped[float] = mapped_column(Numeric(8, 2, asdecimal=False), default=0.0)
    threat: Mapped[bool] = mapped_column(default=False)
    threat_details: Mapped[str | None] = mapped_column(String(255))
    bounce: Mapped[bool] = mapped_column(default=False)
    bounce_for_id: Mapped[int | None]
    tag: Mapped[str | None] = mapped_column(String(255))
    loaded: Mapped[float | None] = mapped_column(EPOCH)
    clicked: Mapped[float | None] = mapped_column(EPOCH)
    received_with_ssl: Mapped[bool | None]
    hold_expiry: Mapped[float | None] = mapped_column(EPOCH)
    tracked_links: Mapped[int] = mapped_column(default=0)
    tracked_images: Mapped[int] = mapped_column(default=0)
    parsed: Mapped[bool] = mapped_column(default=False)
    endpoint_id: Mapped[int | None]
    endpoint_type: Mapped[str | None] = mapped_column(String(32))
