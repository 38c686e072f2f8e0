"""The history of webhook calls: one row per attempt."""

from __future__ import annotations

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase
from models.message.message import EPOCH


class WebhookRequestHistory(MessageBase):
    __tablename__ = "webhook_requests"
    __table_args__ = (
        Index("ix_webhook_requests_uuid", "uuid"),
        Index("ix_webhook_requests_event", "event"),
        Index("ix_webhook_requests_timestamp", "timestamp"),
        Index("ix_webhook_requests_webhook_id", "webhook_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36))
    event: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int | None]
    timestamp: Mapped[float] = mapped_column(EPOCH)
    status_code: Mapped[int | None]
    body: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)
    will_retry: Mapped[bool] = mapped_column(default=False)
    url: Mapped[str | None] = mapped_column(String(2048))
    webhook_id: Mapped[int | None]
