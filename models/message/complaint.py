"""A complaint: a feedback report (RFC 5965) saying a recipient marked one of our messages as spam."""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase
from models.message.message import EPOCH


class Complaint(MessageBase):
    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_message_id", "message_id"), Index("ix_complaints_timestamp", "timestamp"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int]  # the message complained about
    report_message_id: Mapped[int | None]  # the feedback report, stored as an incoming message
    address: Mapped[str] = mapped_column(String(255))  # the recipient who complained
    feedback_type: Mapped[str] = mapped_column(String(40))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    arrival_date: Mapped[str | None] = mapped_column(String(255))
    timestamp: Mapped[float] = mapped_column(EPOCH)
