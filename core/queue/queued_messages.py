"""The `queued_messages` table as a work queue: claims by UPDATE, retries, removal.

A job from the broker only names a row. Whoever sets `locked_by` on it owns the row; anyone else
does nothing, so duplicate jobs are harmless (STYLE rule 6; reference §3.2). Every statement
finds its rows by primary key, and every transaction is retried on a deadlock.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Table, bindparam, delete, or_, select, update

from core.db import run_transaction
from core.tokens import random_string
from models.base import table
from models.queued_message import QueuedMessage

QM = table(QueuedMessage)

# Built once: building a statement costs far more than running it (about 0.2 ms each).
# `locked_by` has no index, so a claim finds (and locks) the row by its primary key alone.
CLAIM = (
    update(QM)
    .where(QM.c.id == bindparam("b_id"), QM.c.locked_by.is_(None))
    .values(locked_by=bindparam("b_locker"), locked_at=bindparam("b_now"))
)
LOAD = select(QM).where(QM.c.id == bindparam("b_id"))
UNLOCK = update(QM).where(QM.c.id == bindparam("b_id")).values(locked_by=None, locked_at=None)
RETRY_LATER = (
    update(QM)
    .where(QM.c.id == bindparam("b_id"))
    .values(
        locked_by=None,
        locked_at=None,
        retry_after=bindparam("b_retry_at"),
        attempts=bindparam("b_attempts"),
        manual=False,
        # Not published: the requeuer sends it as soon as it is due.
        published_at=None,
        updated_at=bindparam("b_now"),
    )
)
DEQUEUE = delete(QM).where(QM.c.id == bindparam("b_id"))
# The same for several rows: `b_ids` is expanded into `IN (…)` at execution.
_IDS = QM.c.id.in_(bindparam("b_ids", expanding=True))
CLAIM_MANY = (
    update(QM)
    .where(_IDS, QM.c.locked_by.is_(None))
    .values(locked_by=bindparam("b_locker"), locked_at=bindparam("b_now"))
)
LOAD_CLAIMED = select(QM).where(_IDS, QM.c.locked_by == bindparam("b_locker")).order_by(QM.c.id)
UNLOCK_MANY = update(QM).where(_IDS).values(locked_by=None, locked_at=None)
DEQUEUE_MANY = delete(QM).where(_IDS)


def locker_name() -> str:
    """Names the worker thread and this job run, e.g. `host:mx1 pid:42 thread:7 job:Ab3dE9xQ`."""
    return (
        f"host:{socket.gethostname()} pid:{os.getpid()} thread:{threading.get_ident() % 100000} job:{random_string(8)}"
    )


def claim(engine: Engine, row_id: int, locker: str, now: datetime) -> QueuedMessage | None:
    """Lock the row for `locker` and return it; None when it is gone or someone else holds it."""

    def work(conn: Connection) -> QueuedMessage | None:
        if conn.execute(CLAIM, {"b_id": row_id, "b_locker": locker, "b_now": now}).rowcount != 1:
            return None
        row = conn.execute(LOAD, {"b_id": row_id}).mappings().first()
        return QueuedMessage(**row) if row is not None else None

    return run_transaction(engine, work)


def claim_many(engine: Engine, row_ids: Sequence[int], locker: str, now: datetime) -> list[QueuedMessage]:
    """Lock those of the rows nobody holds, for `locker` (unique per job), and return them."""
    ids = sorted(set(row_ids))

    def work(conn: Connection) -> list[QueuedMessage]:
        conn.execute(CLAIM_MANY, {"b_ids": ids, "b_locker": locker, "b_now": now})
        rows = conn.execute(LOAD_CLAIMED, {"b_ids": ids, "b_locker": locker})
        return [QueuedMessage(**row) for row in rows.mappings()]

    return run_transaction(engine, work)


def unlock_many(engine: Engine, row_ids: Sequence[int]) -> None:
    if row_ids:
        run_transaction(
            engine,
            lambda conn: conn.execute(UNLOCK_MANY, {"b_ids": list(row_ids)}),
        )


def dequeue_many_in(conn: Connection, row_ids: Sequence[int]) -> None:
    if row_ids:
        conn.execute(DEQUEUE_MANY, {"b_ids": list(row_ids)})


def retry_later_many_in(conn: Connection, items: Sequence[tuple[QueuedMessage, datetime]], now: datetime) -> None:
    if items:
        conn.execute(
            RETRY_LATER,
            [{"b_id": row.id, "b_retry_at": at, "b_attempts": row.attempts + 1, "b_now": now} for row, at in items],
        )


def unlock(engine: Engine, row_id: int) -> None:
    run_transaction(engine, lambda conn: conn.execute(UNLOCK, {"b_id": row_id}))


def retry_later_in(conn: Connection, row: QueuedMessage, retry_at: datetime, now: datetime) -> None:
    """Unlock with a new `retry_after` and one more attempt counted; the requeuer republishes it."""
    conn.execute(RETRY_LATER, {"b_id": row.id, "b_retry_at": retry_at, "b_attempts": row.attempts + 1, "b_now": now})


def retry_later(engine: Engine, row: QueuedMessage, retry_at: datetime, now: datetime) -> None:
    run_transaction(engine, lambda conn: retry_later_in(conn, row, retry_at, now))


def dequeue_in(conn: Connection, row_id: int) -> None:
    conn.execute(DEQUEUE, {"b_id": row_id})


def dequeue(engine: Engine, row_id: int) -> None:
    run_transaction(engine, lambda conn: dequeue_in(conn, row_id))


def retry_delay(attempts: int, base: float, factor: float) -> timedelta:
    """Reference §3.8: base × factor^attempts (5 min × 1.3^n by default)."""
    return timedelta(seconds=base * factor**attempts)


def due_rows(
    engine: Engine,
    now: datetime,
    stale_publish: datetime,
    stale_lock: datetime,
    limit: int,
    table: Table = QM,
    queue_name: str | None = None,
) -> list[tuple[int, str]]:
    """Rows of `table` (queued messages, or webhook requests) to publish again: due, and either
    never published, published long ago, or locked by a worker that stopped renewing its lock.
    Their stale locks are freed and `published_at` is set. Returns (id, queue) pairs; the queue is
    the row's own `queue` column, or `queue_name` for tables without one."""

    def work(conn: Connection) -> list[tuple[int, str]]:
        stale = list(conn.scalars(select(table.c.id).where(table.c.locked_at < stale_lock).limit(limit)))
        if stale:
            conn.execute(
                update(table)
                .where(table.c.id.in_(stale), table.c.locked_at < stale_lock)
                .values(locked_by=None, locked_at=None, published_at=None)
            )
        columns = [table.c.id, table.c.queue] if queue_name is None else [table.c.id]
        # In the order of the `(published_at, retry_after)` index: never published first (NULL
        # sorts first), the new ones in arrival order, then the stalest. The database walks the
        # index and stops at `limit`, however many rows wait (ordering by id would sort them all).
        rows = conn.execute(
            select(*columns)
            .where(
                or_(table.c.published_at.is_(None), table.c.published_at < stale_publish),
                or_(table.c.retry_after.is_(None), table.c.retry_after <= now),
                table.c.locked_at.is_(None),
            )
            .order_by(table.c.published_at, table.c.retry_after, table.c.id)
            .limit(limit)
        ).all()
        ids = [r[0] for r in rows]
        if ids:
            conn.execute(update(table).where(table.c.id.in_(ids), table.c.locked_by.is_(None)).values(published_at=now))
        return [(r[0], queue_name or r[1]) for r in rows]

    return run_transaction(engine, work)


def unpublish(engine: Engine, row_ids: Sequence[int], table: Table = QM) -> None:
    """Mark rows whose job could not be published as never published: the requeuer's next run
    takes them, instead of waiting for a publication that never happened to go stale."""
    if row_ids:
        run_transaction(
            engine, lambda c: c.execute(update(table).where(table.c.id.in_(list(row_ids))).values(published_at=None))
        )


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive, and not ours to judge
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def free_locks_of_dead_workers(
    engine: Engine,
    tables: Sequence[Table],
    host: str | None = None,
    own_pid: int | None = None,
    alive: Callable[[int], bool] = process_alive,
) -> int:
    """At a worker's start, before it claims anything: rows locked by a process of this host that
    no longer runs (killed or crashed) are freed now rather than when their lease runs out, and
    left unpublished for the requeuer's next round (every few seconds). Locks naming this very
    process id are a predecessor's too: a restarted container often gets its predecessor's pid,
    and this process holds nothing yet. Returns how many rows were freed."""
    host = socket.gethostname() if host is None else host
    own_pid = os.getpid() if own_pid is None else own_pid
    prefix = f"host:{host} pid:"
    freed = 0
    for locked in tables:
        with engine.connect() as conn:
            lockers = list(
                conn.scalars(select(locked.c.locked_by).where(locked.c.locked_by.startswith(prefix)).distinct())
            )
        dead = []
        for locker in lockers:
            pid_text = locker[len(prefix) :].split(" ", 1)[0]
            if pid_text.isdigit() and (int(pid_text) == own_pid or not alive(int(pid_text))):
                dead.append(locker)
        if dead:
            with engine.begin() as conn:
                freed += int(
                    conn.execute(
                        update(locked)
                        .where(locked.c.locked_by.in_(dead))
                        .values(locked_by=None, locked_at=None, published_at=None)
                    ).rowcount
                )
    return freed
