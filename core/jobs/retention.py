"""Message retention, daily per server (reference §8, Postal's ProcessMessageRetention): raw bodies
by age and by size in whole daily tables, then message metadata by age; never what the queue or a
hold still needs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from sqlalchemy import Connection, Engine, delete, func, inspect, select, update

from core.db import run_transaction
from core.jobs.task_runs import TaskIncomplete
from core.logs import log_context
from core.message_db import MessageDB
from core.runtime import Runtime
from models.base import table
from models.message.delivery import Delivery
from models.message.link import Click, Link, Load
from models.message.message import Message
from models.message.raw import RawMessageSize, raw_table
from models.message.spam_check import SpamCheck
from models.organization import Organization
from models.queued_message import QueuedMessage
from models.server import Server

log = logging.getLogger(__name__)

# Rows per transaction: each batch commits on its own, so an interrupted run loses nothing and the
# next run goes on where it stopped.
BATCH = 1000
MB = 1024 * 1024
RAW_NAME = re.compile(r"raw-(\d{4})-(\d{2})-(\d{2})")

MESSAGES = table(Message)
SIZES = table(RawMessageSize)
QUEUED = table(QueuedMessage)
# What a message's metadata is made of, besides its own row (Postal deletes clicks, loads,
# deliveries and spam checks with the message; links go too, they mean nothing without it).
DEPENDENTS = tuple(table(model) for model in (Click, Load, Link, Delivery, SpamCheck))


@dataclass(frozen=True)
class Policy:
    """A server's retention settings (reference §2.1): days of metadata, days and MB of raw data."""

    message_days: int
    raw_days: int
    raw_size_mb: int


@dataclass
class Report:
    """What retention did to one server."""

    tables_dropped: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    # Tables past a limit that were kept, with the reason (queued or held messages, today's).
    tables_kept: dict[str, str] = field(default_factory=dict)
    messages_deleted: int = 0

    @property
    def count(self) -> int:
        return len(self.tables_dropped) + self.messages_deleted


def process_message_retention(runtime: Runtime) -> int:
    """Apply every live server's retention; the count is raw tables dropped plus messages deleted.

    A server that fails does not stop the others; the run then ends with `TaskIncomplete` naming it.
    """
    now = runtime.clock()
    with runtime.db.engine.connect() as conn:
        servers = conn.execute(
            select(
                Server.id,
                Server.permalink,
                Organization.permalink.label("organization"),
                Server.message_retention_days,
                Server.raw_message_retention_days,
                Server.raw_message_retention_size,
            )
            .join(Organization, Organization.id == Server.organization_id)
            .where(Server.deleted_at.is_(None), Organization.deleted_at.is_(None))
            .order_by(Server.id)
        ).all()
    total = 0
    failures: dict[str, str] = {}
    for server in servers:
        ref = f"{server.organization}/{server.permalink}"
        policy = Policy(
            server.message_retention_days, server.raw_message_retention_days, server.raw_message_retention_size
        )
        with log_context(server_id=server.id):
            try:
                report = apply_retention(runtime.db.engine, runtime.message_dbs.get(server.id), policy, now)
            except Exception as exc:
                log.exception("retention of server %s failed", ref)
                failures[ref] = f"{type(exc).__name__}: {exc}"
                continue
            log.info(
                "retention of server %s: %d raw tables dropped (%s), %.1f MB freed, %d messages deleted%s",
                ref,
                len(report.tables_dropped),
                ", ".join(report.tables_dropped) or "none",
                report.bytes_freed / MB,
                report.messages_deleted,
                "".join(f"; kept {name}: {why}" for name, why in report.tables_kept.items()),
            )
        total += report.count
    if failures:
        raise TaskIncomplete("servers", len(servers), failures)
    return total


def apply_retention(main: Engine, mdb: MessageDB, policy: Policy, now: datetime) -> Report:
    """Postal's order: raw tables older than `raw_days`, then oldest first down to `raw_size_mb`,
    then metadata older than `message_days`."""
    report = Report()
    today = now.date()
    tables = _raw_tables(mdb)
    # A raw table past its days goes, as in Postal: `date < today - raw_days`.
    for day, name in tables:
        if day < today - timedelta(days=policy.raw_days):
            _drop_if_unneeded(main, mdb, name, day, today, report)
    _drop_down_to_size(main, mdb, policy.raw_size_mb * MB, today, report)
    # Metadata up to the end of the day `message_days` ago (Postal's `end_of_day`). At least one
    # day: today's messages may still be waiting for their queue rows, written after them.
    last_day = today - timedelta(days=max(1, policy.message_days))
    cutoff = datetime.combine(last_day, time.max, tzinfo=UTC).timestamp()
    report.messages_deleted = _delete_messages(main, mdb, cutoff)
    return report


# -- raw tables ---------------------------------------------------------------------------------


def _raw_tables(mdb: MessageDB) -> list[tuple[date, str]]:
    """The daily raw tables of this database, oldest first."""
    with mdb.engine.connect() as conn:
        names = inspect(conn).get_table_names(schema=None if mdb.is_sqlite else mdb.name)
    found = []
    for name in names:
        match = RAW_NAME.fullmatch(name)
        if match:
            try:
                found.append((date(int(match[1]), int(match[2]), int(match[3])), name))
            except ValueError:
                continue
    return sorted(found)


def _sizes(mdb: MessageDB, existing: set[str]) -> dict[str, int]:
    """Bytes in each existing raw table; size rows of tables that are gone (a run interrupted
    between the drop and the row's removal) are removed."""
    with mdb.transaction() as conn:
        sizes = {row.table_name: int(row.size or 0) for row in conn.execute(select(SIZES))}
        gone = sorted(set(sizes) - existing)
        if gone:
            conn.execute(delete(SIZES).where(SIZES.c.table_name.in_(gone)))
    return {name: size for name, size in sizes.items() if name in existing}


def _drop_down_to_size(main: Engine, mdb: MessageDB, limit: int, today: date, report: Report) -> None:
    tables = _raw_tables(mdb)
    sizes = _sizes(mdb, {name for _, name in tables})
    total = sum(sizes.values())
    for day, name in tables:
        if total <= limit:
            return
        if _drop_if_unneeded(main, mdb, name, day, today, report):
            total -= sizes.get(name, 0)
    if total > limit:
        log.warning(
            "raw data of %s is %.1f MB, over its %.1f MB limit: the remaining tables are still needed",
            mdb.name,
            total / MB,
            limit / MB,
        )


def _drop_if_unneeded(main: Engine, mdb: MessageDB, name: str, day: date, today: date, report: Report) -> bool:
    """Drop the table unless a message in it is queued or held; True when it was dropped."""
    if name in report.tables_kept:
        return False
    if day >= today:
        # New mail is written into today's table, and a message's queue row is committed after
        # its raw data: a fresh message could look unqueued for a moment.
        report.tables_kept[name] = "new mail is written into it today"
        return False
    queued, held = _needed_in(main, mdb, name)
    if queued or held:
        counts = [f"{n} {what} message{'s' if n != 1 else ''}" for n, what in ((queued, "queued"), (held, "held")) if n]
        report.tables_kept[name] = "needed by " + " and ".join(counts)
        log.info("raw table %s of %s kept: %s", name, mdb.name, report.tables_kept[name])
        return False
    report.bytes_freed += _drop_raw_table(mdb, name)
    report.tables_dropped.append(name)
    return True


def _ids_in_table(mdb: MessageDB, name: str, held: bool | None = None) -> Iterator[list[int]]:
    """The ids of messages stored in raw table `name`, a batch at a time."""
    after = 0
    while True:
        query = select(MESSAGES.c.id).where(MESSAGES.c.raw_table == name, MESSAGES.c.id > after)
        if held is not None:
            query = query.where(MESSAGES.c.held.is_(held))
        with mdb.engine.connect() as conn:
            ids = list(conn.scalars(query.order_by(MESSAGES.c.id).limit(BATCH)))
        if not ids:
            return
        yield ids
        after = ids[-1]


def _needed_in(main: Engine, mdb: MessageDB, name: str) -> tuple[int, int]:
    """How many messages of the table are queued (a pending retry reads the raw body again) and
    how many are held (releasing one sends it)."""
    with mdb.engine.connect() as conn:
        held = int(
            conn.scalar(
                select(func.count())
                .select_from(MESSAGES)
                .where(MESSAGES.c.raw_table == name, MESSAGES.c.held.is_(True))
            )
            or 0
        )
    queued = sum(len(_queued_among(main, mdb.server_id, ids)) for ids in _ids_in_table(mdb, name))
    return queued, held


def _queued_among(main: Engine, server_id: int, ids: Sequence[int]) -> set[int]:
    """Those of the message ids that have a row in the main database's queue."""
    with main.connect() as conn:
        return set(
            conn.scalars(
                select(QUEUED.c.message_id).where(QUEUED.c.server_id == server_id, QUEUED.c.message_id.in_(ids))
            )
        )


def _drop_raw_table(mdb: MessageDB, name: str) -> int:
    """Postal's `remove_table`: its messages forget their raw data (they answer 404 for it and
    their size is unknown), then the table and its size row go. Returns the bytes it held.

    Messages are detached first, a batch per transaction: interrupted, the table is still there
    and the next run finishes the job."""
    for ids in _ids_in_table(mdb, name):
        with mdb.transaction() as conn:
            conn.execute(
                update(MESSAGES)
                .where(MESSAGES.c.id.in_(ids))
                .values(raw_table=None, raw_headers_id=None, raw_body_id=None, size=None)
            )
    with mdb.transaction() as conn:
        size = int(conn.scalar(select(SIZES.c.size).where(SIZES.c.table_name == name)) or 0)
        # DDL: MariaDB commits here; the size row below goes in a transaction of its own.
        raw_table(name).drop(conn, checkfirst=True)
        conn.execute(delete(SIZES).where(SIZES.c.table_name == name))
    with mdb.raw_tables_lock:
        mdb.raw_tables.discard(name)
    return size


# -- metadata ---------------------------------------------------------------------------------


def _delete_messages(main: Engine, mdb: MessageDB, cutoff: float) -> int:
    """Messages with `timestamp <= cutoff`, with everything recorded about them, a batch per
    transaction; held and queued messages stay whatever their age."""
    deleted = 0
    after = 0
    while True:
        with mdb.engine.connect() as conn:
            ids = list(
                conn.scalars(
                    select(MESSAGES.c.id)
                    .where(MESSAGES.c.timestamp <= cutoff, MESSAGES.c.held.is_(False), MESSAGES.c.id > after)
                    .order_by(MESSAGES.c.id)
                    .limit(BATCH)
                )
            )
        if not ids:
            return deleted
        after = ids[-1]
        doomed = sorted(set(ids) - _queued_among(main, mdb.server_id, ids))
        if doomed:
            deleted += run_transaction(mdb.engine, partial(_delete_batch, ids=doomed))


def _delete_batch(conn: Connection, ids: list[int]) -> int:
    # Held is read again inside the transaction: a message could have been held since.
    ids = list(conn.scalars(select(MESSAGES.c.id).where(MESSAGES.c.id.in_(ids), MESSAGES.c.held.is_(False))))
    if not ids:
        return 0
    for dependent in DEPENDENTS:
        conn.execute(delete(dependent).where(dependent.c.message_id.in_(ids)))
    return int(conn.execute(delete(MESSAGES).where(MESSAGES.c.id.in_(ids))).rowcount)
