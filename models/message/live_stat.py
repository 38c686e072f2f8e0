"""Per-minute counters of the last hour, used for send limits and message rates."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase
from models.message.message import EPOCH


class LiveStat(MessageBase):
    __tablename__ = "live_stats"

    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    minute: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)
    timestamp: Mapped[float] = mapped_column(EPOCH)
