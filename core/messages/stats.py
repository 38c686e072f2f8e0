"""Counters in the message database: per-period statistics and raw table sizes, as batched upserts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Integer, case, cast, func, select

from core.upsert import upsert_add
from models.base import table
from models.enums import MessageStatus
from models.message.complaint import Complaint
from models.message.delivery import Delivery
from models.message.link import Click, Load
from models.message.message import Message
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


# The periods the API shows as series, with their length in seconds (UTC hours and days).
PERIOD_SECONDS = {"hourly": 3600, "daily": 86400}


def period_start(epoch: float, period: str) -> int:
    """The start of the hourly or daily period containing `epoch` (UTC)."""
    size = PERIOD_SECONDS[period]
    return int(epoch // size * size)


def series(conn: Connection, period: str, first: int, last: int) -> list[dict[str, int]]:
    """Counts of each hourly or daily period from `first` to `last` (period starts, inclusive),
    oldest first, with a row for every period. Opens (`loads`), `clicks` and `complaints` (feedback
    reports, beyond Postal) count by when they happened.

    Incoming and outgoing come from the statistics tables, counted when mail is accepted.
    Postal also counts `held` and `bounces` there, when a Held, Bounced or HardFail delivery is
    recorded; this platform does not, so they are counted here from the messages of each period
    (by the message's timestamp) that have such a delivery — a message held twice counts once.
    """
    size = PERIOD_SECONDS[period]
    stats = table(STAT_TABLES[period])
    empty = dict.fromkeys(("incoming", "outgoing", "bounces", "held", "loads", "clicks", "complaints"), 0)
    rows: dict[int, dict[str, int]] = {start: {"time": start, **empty} for start in range(first, last + 1, size)}
    recorded = conn.execute(
        select(stats.c.time, stats.c.incoming, stats.c.outgoing).where(stats.c.time.between(first, last))
    )
    for time_, incoming, outgoing in recorded:
        if int(time_) in rows:
            rows[int(time_)].update(incoming=int(incoming), outgoing=int(outgoing))
    for start, bounces, held in _delivery_counts(conn, size, first, last + size):
        if start in rows:
            rows[start].update(bounces=bounces, held=held)
    for name, model in (("loads", Load), ("clicks", Click), ("complaints", Complaint)):
        for start, count in _tracking_counts(conn, table(model), size, first, last + size):
            if start in rows:
                rows[start][name] = count
    return list(rows.values())


def _period_index(conn: Connection, column: Any, start: int, size: int) -> Any:
    """The period a timestamp falls in: FLOOR on MariaDB; SQLite's integer cast truncates, which
    is the floor here since the offset is never negative (SQLite's FLOOR needs its math extension)."""
    offset = (column - start) / size
    return func.floor(offset) if conn.dialect.name != "sqlite" else cast(offset, Integer)


def _tracking_counts(conn: Connection, events: Any, size: int, start: int, end: int) -> list[tuple[int, int]]:
    """(period start, opens or clicks recorded in it), by when they happened."""
    index = _period_index(conn, events.c.timestamp, start, size)
    counted = (
        select(index.label("n"), func.count())
        .where(events.c.timestamp >= start, events.c.timestamp < end)
        .group_by("n")
    )
    return [(start + int(n) * size, int(count)) for n, count in conn.execute(counted)]


def _delivery_counts(conn: Connection, size: int, start: int, end: int) -> list[tuple[int, int, int]]:
    """(period start, messages that bounced or hard-failed, messages held) for each period with messages."""
    messages, deliveries = table(Message), table(Delivery)
    index = _period_index(conn, messages.c.timestamp, start, size)

    def having(*statuses: str) -> Any:
        found = select(deliveries.c.id).where(
            deliveries.c.message_id == messages.c.id, deliveries.c.status.in_(statuses)
        )
        return func.sum(case((found.exists(), 1), else_=0))

    counted = (
        select(index.label("n"), having(MessageStatus.BOUNCED, MessageStatus.HARD_FAIL), having(MessageStatus.HELD))
        .where(messages.c.timestamp >= start, messages.c.timestamp < end)
        .group_by("n")
    )
    return [(start + int(n) * size, int(bounced or 0), int(held or 0)) for n, bounced, held in conn.execute(counted)]
