"""Webhooks a server calls, the events each wants, and the requests waiting to be delivered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, new_uuid, utcnow

# The events a webhook can receive (reference §7).
EVENTS = (
    "MessageSent",
    "MessageDelayed",
    "MessageDeliveryFailed",
    "MessageHeld",
    "MessageBounced",
    "MessageLinkClicked",
    "MessageLoaded",
    "DomainDNSError",
)


# Only sent to webhooks subscribed to all events (reference §7).
ALL_EVENTS_ONLY = ("SendLimitApproaching", "SendLimitExceeded")
# Events beyond Postal's: only sent to webhooks that choose them by name, so that a webhook set to
# "all events" keeps receiving Postal's eight and nothing its consumer does not know.
NAMED_ONLY = ("MessageComplaint",)
# What a webhook can be subscribed to.
SELECTABLE = EVENTS + NAMED_ONLY


class Webhook(Timestamps, MainBase):
    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(String(2048))
    all_events: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    sign: Mapped[bool] = mapped_column(default=True)
    last_used_at: Mapped[datetime | None]


class WebhookEvent(MainBase):
    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookRequest(MainBase):
    """A webhook call still to be made (the history of attempts is in the message database)."""

    __tablename__ = "webhook_requests"
    __table_args__ = (
        Index("ix_webhook_requests_due", "locked_at", "retry_after"),
        Index("ix_webhook_requests_publish", "published_at", "retry_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    event: Mapped[str] = mapped_column(String(64))
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    payload: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    retry_after: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(255))
    locked_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
