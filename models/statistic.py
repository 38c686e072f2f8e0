"""The installation-wide message counters (a single row)."""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase


class Statistic(MainBase):
    __tablename__ = "statistics"

    id: Mapped[int] = mapped_column(primary_key=True)
    total_messages: Mapped[int] = mapped_column(BigInteger, default=0)
    total_outgoing: Mapped[int] = mapped_column(BigInteger, default=0)
    total_incoming: Mapped[int] = mapped_column(BigInteger, default=0)
