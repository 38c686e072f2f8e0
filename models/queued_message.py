"""The delivery queue: one row per message still to be delivered; the row, not the broker, is the truth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps


class QueuedMessage(Timestamps, MainBase):
    __tablename__ = "queued_messages"
    __table_args__ = (
        Index("ix_queued_messages_due", "locked_at", "retry_after"),
        Index("ix_queued_messages_batch", "batch_key", "ip_address_id"),
        Index("ix_queued_messages_server_message", "server_id", "message_id"),
        # The requeuer's question (never or long ago published, and due) as one index range.
        Index("ix_queued_messages_publish", "published_at", "retry_after"),
        # The queue gauges: counts per queue and state, and the oldest ready row, from the index.
        Index("ix_queued_messages_queue_state", "queue", "locked_at", "retry_after", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    message_id: Mapped[int]
    # The recipient's domain (outgoing) used for batching deliveries to the same place.
    domain: Mapped[str | None] = mapped_column(String(255))
    locked_by: Mapped[str | None] = mapped_column(String(255))
    locked_at: Mapped[datetime | None]
    retry_after: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    ip_address_id: Mapped[int | None] = mapped_column(ForeignKey("ip_addresses.id", ondelete="SET NULL"))
    route_id: Mapped[int | None]
    manual: Mapped[bool] = mapped_column(default=False)
    batch_key: Mapped[str | None] = mapped_column(String(255))
    # The broker queue the job goes to (`outgoing`, `outgoing-<pool>`, `incoming`, `bounces`).
    queue: Mapped[str] = mapped_column(String(255), default="outgoing")
    # When a job for this row was last handed to the broker (lets the requeuer find lost jobs).
    published_at: Mapped[datetime | None]
