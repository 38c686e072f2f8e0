"""What a server's overview shows of its message database: the space it takes, messages per
minute, held messages and the bounce rate of the last 30 days (reference §10.2)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text

from core.messages import live_stats
from core.messages.stats import PERIOD_SECONDS, period_start, series
from models.base import table
from models.message.message import Message

MESSAGES = table(Message)
BOUNCE_RATE_DAYS = 30


@dataclass(frozen=True)
class Usage:
    storage_used: int
    messages_per_minute: float
    held_messages: int
    outgoing_30_days: int
    bounces_30_days: int

    @property
    def bounce_rate(self) -> float:
        """Bounces as a percentage of outgoing messages (0 when nothing was sent), as Postal."""
        return round(100.0 * self.bounces_30_days / self.outgoing_30_days, 2) if self.outgoing_30_days else 0.0


def database_size(conn: Connection, database: str) -> int:
    """Bytes of data and indexes: the SQLite file's pages, or MariaDB's figures for `database`."""
    if conn.dialect.name == "sqlite":
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
        size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
        return int(pages) * int(size)
    total = conn.execute(
        text(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
            "WHERE table_schema = :name"
        ),
        {"name": database},
    ).scalar()
    return int(total or 0)


def server_usage(conn: Connection, database: str, now: float) -> Usage:
    """The figures at `now` (epoch seconds); the message rate is incoming and outgoing messages
    of the last hour per minute, as Postal computes it."""
    last_hour = live_stats.total(conn, "incoming", 60, now) + live_stats.total(conn, "outgoing", 60, now)
    held = conn.execute(select(func.count()).select_from(MESSAGES).where(MESSAGES.c.held.is_(True))).scalar()
    last = period_start(now, "daily")
    days = series(conn, "daily", last - (BOUNCE_RATE_DAYS - 1) * PERIOD_SECONDS["daily"], last)
    return Usage(
        storage_used=database_size(conn, database),
        messages_per_minute=round(last_hour / 60.0, 2),
        held_messages=int(held or 0),
        outgoing_30_days=sum(day["outgoing"] for day in days),
        bounces_30_days=sum(day["bounces"] for day in days),
    )
