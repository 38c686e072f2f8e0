"""One delivery attempt (or status change) of a message."""

from __future__ import annotations

from sqlalchemy import Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase
from models.message.message import EPOCH


class Delivery(MessageBase):
    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int]
    status: Mapped[str] = mapped_column(String(20))
    code: Mapped[int | None]
    output: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[str | None] = mapped_column(String(512))
    sent_with_ssl: Mapped[bool] = mapped_column(default=False)
    log_id: Mapped[str | None] = mapped_column(String(100))
    timestamp: Mapped[float] = mapped_column(EPOCH)
    time: Mapped[float | None] = mapped_column(Numeric(8, 2, asdecimal=False))
