"""One rule that scored a message during spam or virus inspection."""

from __future__ import annotations

from sqlalchemy import Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase


class SpamCheck(MessageBase):
    __tablename__ = "spam_checks"
    __table_args__ = (Index("ix_spam_checks_message_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int]
    score: Mapped[float] = mapped_column(Numeric(8, 2, asdecimal=False))
    code: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
