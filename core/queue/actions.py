"""What an operator does to messages (reference §3.9): release a hold, cancel it, retry now, take
a message off the queue — one at a time, or in bulk by filter."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from core.broker import QUEUE_INCOMING, QUEUE_OUTGOING
from core.caches import ServerState
from core.db import run_transaction
from core.errors import ValidationError
from core.mail.address import domain_of
from core.mail.headers import addresses, parse_headers
from core.messages.deliveries import add_delivery
from core.messages.raw_store import load_raw_message
from core.runtime import Runtime
from core.tenancy.ip_pools import allocate
from models.base import table
from models.enums import MessageScope, MessageStatus
from models.message.message import Message
from models.queued_message import QueuedMessage

MESSAGES = table(Message)
QM = table(QueuedMessage)
ACTIONS = ("release", "cancel", "retry", "remove")
HOLD_CANCELLED = "The hold on this message has been removed without action."
_random = random.Random()


@dataclass(frozen=True)
class Filter:
    """Which messages a bulk action applies to (all given conditions)."""

    status: str | None = None
    held: bool | None = None
    recipient_domain: str | None = None
    older_than: timedelta | None = None
    queued: bool | None = None


@dataclass
class ActionResult:
    message_id: int
    done: bool
    reason: str


def find_messages(runtime: Runtime, server_id: int, where: Filter, limit: int = 10_000) -> list[int]:
    """Ids of the server's messages matching the filter, oldest first."""
    query = select(MESSAGES.c.id).order_by(MESSAGES.c.id).limit(limit)
    if where.status:
        query = query.where(MESSAGES.c.status == where.status)
    if where.held is not None:
        query = query.where(MESSAGES.c.held.is_(where.held))
    if where.recipient_domain:
        # Stored addresses end with "@<domain>"; match it case-insensitively.
        query = query.where(func.lower(MESSAGES.c.rcpt_to).like(f"%@{where.recipient_domain.lower()}"))
    if where.older_than is not None:
        query = query.where(MESSAGES.c.timestamp < time.time() - where.older_than.total_seconds())
    mdb = runtime.message_dbs.get(server_id)
    with mdb.reader.connect() as conn:
        ids = list(conn.scalars(query))
    if where.queued is not None:
        with runtime.db.engine.connect() as conn:
            queued = set(conn.scalars(select(QM.c.message_id).where(QM.c.server_id == server_id)))
        ids = [i for i in ids if (i in queued) == where.queued]
    return ids


def apply(runtime: Runtime, server_id: int, action: str, message_ids: Sequence[int]) -> list[ActionResult]:
    """Run `action` on each message; a message it does not apply to is skipped with the reason."""
    if action not in ACTIONS:
        raise ValidationError("action", f"must be one of {', '.join(ACTIONS)}")
    state = runtime.servers.get(server_id)
    if state is None:
        raise ValidationError("server", "does not exist")
    mdb = runtime.message_dbs.get(server_id)
    results: list[ActionResult] = []
    to_publish: list[tuple[int, str]] = []
    for message_id in message_ids:
        with mdb.reader.connect() as conn:
            message = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
        if message is None:
            results.append(ActionResult(message_id, False, "no such message"))
            continue
        with runtime.db.engine.connect() as conn:
            row = conn.execute(select(QM).where(QM.c.server_id == server_id, QM.c.message_id == message_id)).first()
        result, publish = _one(runtime, state, action, message, row)
        results.append(result)
        if publish is not None:
            to_publish.append(publish)
    if to_publish and runtime.publisher is not None:
        runtime.publisher.publish_queued_messages(to_publish)
    return results


def _one(
    runtime: Runtime, state: ServerState, action: str, message: Any, row: Any
) -> tuple[ActionResult, tuple[int, str] | None]:
    now = runtime.clock()
    engine = runtime.db.engine
    if action == "remove":
        if row is None:
            return ActionResult(message.id, False, "not queued"), None
        removed = run_transaction(
            engine, lambda c: c.execute(delete(QM).where(QM.c.id == row.id, QM.c.locked_by.is_(None))).rowcount
        )
        return ActionResult(message.id, bool(removed), "removed from the queue" if removed else "being processed"), None

    if action == "cancel":
        if not message.held:
            return ActionResult(message.id, False, "not held"), None
        with runtime.message_dbs.get(state.server.id).transaction() as conn:
            add_delivery(conn, message.id, MessageStatus.HOLD_CANCELLED, HOLD_CANCELLED)
        if row is not None:
            run_transaction(engine, lambda c: c.execute(delete(QM).where(QM.c.id == row.id, QM.c.locked_by.is_(None))))
        return ActionResult(message.id, True, "hold cancelled"), None

    if action == "release" and not message.held:
        return ActionResult(message.id, False, "not held"), None
    if action == "retry" and row is None and message.status not in _RETRYABLE:
        return ActionResult(message.id, False, f"status {message.status} cannot be retried"), None

    if row is not None:
        # Already queued: run it now (Postal clears retry_after). A locked row is being worked on.
        def now_please(c: Connection) -> int:
            return int(
                c.execute(
                    update(QM)
                    .where(QM.c.id == row.id, QM.c.locked_by.is_(None))
                    .values(
                        retry_after=None,
                        published_at=_published(runtime, now),
                        manual=True if action == "release" else QM.c.manual,
                    )
                ).rowcount
            )

        if not run_transaction(engine, now_please):
            return ActionResult(message.id, False, "being processed"), None
        return ActionResult(message.id, True, "queued to run now"), (row.id, row.queue)

    queue_id, queue_name = _new_queue_row(runtime, state, message, now)
    return ActionResult(message.id, True, "queued to run now"), (queue_id, queue_name)


def _published(runtime: Runtime, now: datetime) -> datetime | None:
    """A process with a publisher publishes the job itself; elsewhere (the CLI beside an embedded
    installation) the row is left unpublished and the requeuer publishes it within seconds."""
    return now if runtime.publisher is not None else None


# Statuses whose message can be queued again by "retry" (final successes stay final).
_RETRYABLE = frozenset(
    {
        MessageStatus.HELD.value,
        MessageStatus.SOFT_FAIL.value,
        MessageStatus.HARD_FAIL.value,
        MessageStatus.ERROR.value,
        MessageStatus.HOLD_CANCELLED.value,
        MessageStatus.PENDING.value,
        MessageStatus.BOUNCED.value,
    }
)


def _new_queue_row(runtime: Runtime, state: ServerState, message: Any, now: datetime) -> tuple[int, str]:
    """A `manual` queue row: the checks that hold mail are skipped for it (reference §3.3)."""
    domain = domain_of(message.rcpt_to or "")
    address_id, queue_name = None, QUEUE_OUTGOING
    if message.scope == MessageScope.INCOMING.value:
        queue_name = QUEUE_INCOMING
    elif runtime.config.postal.use_ip_pools:
        senders: list[str] = []
        with runtime.message_dbs.get(state.server.id).reader.connect() as conn:
            raw = load_raw_message(conn, message.raw_table, message.raw_headers_id, message.raw_body_id)
        if raw is not None:
            senders = addresses(parse_headers(raw.split(b"\r\n\r\n", 1)[0]), "From")
        address_id, queue_name = allocate(state, runtime.pools.get(), senders, message.rcpt_to or "", _random)
    values = {
        "server_id": state.server.id,
        "message_id": message.id,
        "domain": domain,
        "batch_key": f"{message.scope}-{domain}",
        "route_id": message.route_id,
        "ip_address_id": address_id,
        "queue": queue_name,
        "manual": True,
        "attempts": 0,
        "published_at": _published(runtime, now),
        "created_at": now,
        "updated_at": now,
    }
    insert_one = insert(QM).values(values).returning(QM.c.id)
    queue_id = run_transaction(runtime.db.engine, lambda c: int(c.execute(insert_one).scalar_one()))
    return queue_id, queue_name
