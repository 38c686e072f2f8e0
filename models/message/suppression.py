"""Recipients the server will not send to until the entry expires."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase
from models.message.message import EPOCH


class Suppression(MessageBase):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("type", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20), default="recipient")
    address: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(255))
    timestamp: Mapped[float] = mapped_column(EPOCH)
    keep_until: Mapped[float] = mapped_column(EPOCH, index=True)
