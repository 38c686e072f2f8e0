"""Counters in the message database: per-period statistics and raw table sizes, as batched upserts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection

from core.upsert import upsert_add
from models.base import table
from models.message.raw import RawMessageSize
from models.message.stat import STAT_TABLES


def period_starts(moment: datetime) -> dict[str, int]:
    """Epoch seconds of the start of the hour, day, month and year containing `moment` (UTC)."""
    moment = moment.replace(tzinfo=UTC)
    starts = {
        "hourly": moment.replace(minute=0, second=0, microsecond=0),
        "daily": moment.replace(hour=0, minute=0, second=0, microsecond=0),
        "monthly": moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        "yearly": moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
    }
    return {name: int(start.timestamp()) for name, start in starts.items()}


def increment_stats(conn: Connection, moment: datetime, amounts: Mapping[str, int]) -> None:
    """Add e.g. `{"outgoing": 3}` to the hourly, daily, monthly and yearly rows of `moment`."""
    amounts = {k: v for k, v in amounts.items() if v}
    if not amounts:
        return
    for period, start in period_starts(moment).items():
        upsert_add(conn, table(STAT_TABLES[period]), {"time": start}, amounts)


def add_raw_size(conn: Connection, table_name: str, size: int) -> None:
    upsert_add(conn, table(RawMessageSize), {"table_name": table_name}, {"size": size})
