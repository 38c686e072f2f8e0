"""Per-minute counters of the last hour (reference §2.2 `live_stats`): send limits and rates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, func, select

from core.upsert import upsert_custom
from models.base import table
from models.message.live_stat import LiveStat

LIVE_STATS = table(LiveStat)
# A bucket last touched more than this long ago holds an old hour's count: start again at 1.
STALE_AFTER = 1800
TOTAL = select(func.coalesce(func.sum(LIVE_STATS.c.count), 0)).where(
    LIVE_STATS.c.type == bindparam("b_type"), LIVE_STATS.c.timestamp > bindparam("b_since")
)


def _bump(t: Table, new: Any, column: str) -> Any:
    if column == "count":
        return case((t.c.timestamp < new.timestamp - STALE_AFTER, new["count"]), else_=t.c.count + new["count"])
    return new[column]


def increment(conn: Connection, kind: str, now: float, amount: int = 1) -> None:
    minute = int(now // 60) % 60
    upsert_custom(
        conn, LIVE_STATS, {"type": kind, "minute": minute}, {"count": amount, "timestamp": now}, "live", _bump
    )


def total(conn: Connection, kind: str, minutes: int, now: float) -> int:
    """How many in the last `minutes` minutes (at most 60)."""
    return int(conn.execute(TOTAL, {"b_type": kind, "b_since": now - minutes * 60}).scalar() or 0)
