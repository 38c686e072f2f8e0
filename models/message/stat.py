"""Message counts per hour, day, month and year."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase


class _Stat:
    id: Mapped[int] = mapped_column(primary_key=True)
    # Start of the period as epoch seconds.
    time: Mapped[int] = mapped_column(unique=True)
    incoming: Mapped[int] = mapped_column(default=0)
    outgoing: Mapped[int] = mapped_column(default=0)
    spam: Mapped[int] = mapped_column(default=0)
    bounces: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)


class StatHourly(_Stat, MessageBase):
    __tablename__ = "stats_hourly"


class StatDaily(_Stat, MessageBase):
    __tablename__ = "stats_daily"


class StatMonthly(_Stat, MessageBase):
    __tablename__ = "stats_monthly"


class StatYearly(_Stat, MessageBase):
    __tablename__ = "stats_yearly"


STAT_TABLES = {"hourly": StatHourly, "daily": StatDaily, "monthly": StatMonthly, "yearly": StatYearly}
