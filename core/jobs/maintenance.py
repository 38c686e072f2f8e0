"""Periodic housekeeping (reference §8), run by the `maintenance` actor when the scheduler asks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import Connection, delete, or_, select, update

from core import presenters
from core.caches import ServerState
from core.db import run_transaction
from core.dns import make_resolver
from core.jobs import task_runs
from core.jobs.deletion import action_deletions
from core.jobs.retention import process_message_retention
from core.messages import live_stats, suppressions
from core.messages.deliveries import add_delivery
from core.runtime import Runtime
from core.tenancy import ui_sessions
from core.tenancy.dns_checks import check_domain, domain_lookup
from core.webhooks.events import queue_event
from core.webhooks.requests import HISTORY
from models.base import table
from models.domain import Domain
from models.enums import MessageStatus, OwnerType
from models.idempotency_key import LIFETIME, IdempotencyKey
from models.message.message import Message
from models.server import Server

log = logging.getLogger(__name__)

MESSAGES = table(Message)
SERVERS = table(Server)
HOLD_EXPIRED = "The hold on this message has been removed without action."


def _server_ids(runtime: Runtime) -> list[int]:
    with runtime.db.engine.connect() as conn:
        return list(conn.scalars(select(SERVERS.c.id).where(SERVERS.c.deleted_at.is_(None))))


def expire_held_messages(runtime: Runtime) -> int:
    """Held messages past their `hold_expiry` get `HoldCancelled` (hourly in Postal)."""
    now = time.time()
    total = 0
    for server_id in _server_ids(runtime):
        with runtime.message_dbs.get(server_id).transaction() as conn:
            expired = list(
                conn.scalars(
                    select(MESSAGES.c.id).where(
                        MESSAGES.c.held.is_(True), MESSAGES.c.hold_expiry.is_not(None), MESSAGES.c.hold_expiry < now
                    )
                )
            )
            for message_id in expired:
                add_delivery(conn, message_id, MessageStatus.HOLD_CANCELLED, HOLD_EXPIRED)
        total += len(expired)
    return total


def prune_suppression_lists(runtime: Runtime) -> int:
    now = time.time()
    total = 0
    for server_id in _server_ids(runtime):
        with runtime.message_dbs.get(server_id).transaction() as conn:
            total += suppressions.prune(conn, now)
    return total


def prune_webhook_history(runtime: Runtime) -> int:
    """Attempts older than `webhooks.history_days` are deleted."""
    cutoff = time.time() - runtime.config.webhooks.history_days * 86400
    total = 0
    for server_id in _server_ids(runtime):
        with runtime.message_dbs.get(server_id).transaction() as conn:
            total += int(conn.execute(delete(HISTORY).where(HISTORY.c.timestamp < cutoff)).rowcount)
    return total


def send_limit_notifications(runtime: Runtime) -> int:
    """`SendLimitApproaching` / `SendLimitExceeded` webhooks for servers that reached the state in
    the last 3 minutes and were not told within the hour (reference §3.6)."""
    now = runtime.clock()
    published: list[int] = []
    for kind, event in (("approaching", "SendLimitApproaching"), ("exceeded", "SendLimitExceeded")):
        reached = SERVERS.c[f"send_limit_{kind}_at"]
        notified = SERVERS.c[f"send_limit_{kind}_notified_at"]
        with runtime.db.engine.connect() as conn:
            due = (
                conn.execute(
                    select(SERVERS.c.id).where(
                        reached > now - timedelta(minutes=3),
                        or_(notified.is_(None), notified < now - timedelta(hours=1)),
                    )
                )
                .scalars()
                .all()
            )
        for server_id in due:
            state = runtime.servers.get(server_id)
            if state is None:
                continue
            with runtime.message_dbs.get(server_id).reader.connect() as mconn:
                volume = live_stats.total(mconn, "outgoing", 60, time.time())
            payload = {
                "server": server_payload(state.server, state.organization.permalink),
                "volume": volume,
                "limit": state.server.send_limit,
            }

            published += run_transaction(
                runtime.db.engine,
                partial(
                    _notify,
                    server_id=server_id,
                    column=notified.name,
                    state=state,
                    event=event,
                    payload=payload,
                    now=now,
                ),
            )
    if published:
        runtime.require_publisher().publish_webhook_requests(published)
    return len(published)


def _notify(
    conn: Connection,
    server_id: int,
    column: str,
    state: ServerState,
    event: str,
    payload: dict[str, object],
    now: datetime,
) -> list[int]:
    conn.execute(update(SERVERS).where(SERVERS.c.id == server_id).values({column: now}))
    return queue_event(conn, state, event, payload, now)


def check_all_dns(runtime: Runtime) -> int:
    """Re-check domains last checked an hour ago or more (only those checked before), and tell
    the server's webhooks when a server's domain is not right (`DomainDNSError`)."""
    now = runtime.clock()
    resolver = make_resolver(runtime.config)
    checked = 0
    with runtime.db.transaction() as session:
        due = session.scalars(
            select(Domain).where(Domain.dns_checked_at.is_not(None), Domain.dns_checked_at <= now - timedelta(hours=1))
        ).all()
    for domain in due:
        ok = check_domain(runtime.config, domain_lookup(runtime.config, resolver, domain.name), domain)
        with runtime.db.transaction() as session:
            session.merge(domain)
        checked += 1
        if ok or domain.owner_type != OwnerType.SERVER:
            continue
        state = runtime.servers.get(domain.owner_id)
        if state is None:
            continue
        payload = {
            "server": server_payload(state.server, state.organization.permalink),
            "domain": domain.name,
            "uuid": domain.uuid,
            **{
                k: v
                for k, v in presenters.dns_status(domain).items()
                if k not in ("domain", "uuid", "verified", "dns_ok")
            },
        }
        payload["dns_checked_at"] = (
            domain.dns_checked_at.replace(tzinfo=UTC).timestamp() if domain.dns_checked_at else None
        )
        ids = run_transaction(
            runtime.db.engine, partial(queue_event, state=state, event="DomainDNSError", payload=payload, now=now)
        )
        if ids:
            runtime.require_publisher().publish_webhook_requests(ids)
    return checked


def prune_idempotency_keys(runtime: Runtime) -> int:
    """API `Idempotency-Key`s are remembered for a day; older ones are deleted."""
    keys = table(IdempotencyKey)
    with runtime.db.engine.begin() as conn:
        return int(conn.execute(delete(keys).where(keys.c.created_at <= runtime.clock() - LIFETIME)).rowcount)


def cleanup_ui_sessions(runtime: Runtime) -> int:
    """Ended web UI sessions and failed logins past the throttling window (Postal's hourly
    CleanupAuthieSessions)."""
    with runtime.db.transaction() as session:
        return ui_sessions.delete_expired(session, runtime.config.web_ui, runtime.clock())


def server_payload(server: Server, organization: str) -> dict[str, object]:
    return {"uuid": server.uuid, "name": server.name, "permalink": server.permalink, "organization": organization}


TASKS: dict[str, Callable[[Runtime], int]] = {
    "expire_held_messages": expire_held_messages,
    "prune_suppression_lists": prune_suppression_lists,
    "prune_webhook_history": prune_webhook_history,
    "send_limit_notifications": send_limit_notifications,
    "check_all_dns": check_all_dns,
    "prune_idempotency_keys": prune_idempotency_keys,
    "cleanup_ui_sessions": cleanup_ui_sessions,
    "process_message_retention": process_message_retention,
    "action_deletions": action_deletions,
}


def run_task(runtime: Runtime, name: str) -> int:
    """Run one task and record its run in `scheduled_tasks` (start, duration, outcome, count),
    where `postal scheduler status` and the API read it. A failure is recorded and raised again,
    so the worker logs it; the next scheduled run tries again."""
    task = TASKS.get(name)
    if task is None:
        log.error("unknown maintenance task %r", name)
        return 0
    engine = runtime.db.engine
    started_at = runtime.clock()
    started = time.monotonic()
    _record(task_runs.record_start, engine, name, started_at)
    try:
        count = task(runtime)
    except BaseException as exc:
        # BaseException too: a time limit or a shutdown interrupts a run, and that is its outcome.
        duration = time.monotonic() - started
        error = f"{type(exc).__name__}: {exc}"
        _record(task_runs.record_finish, engine, name, started_at, duration, None, error)
        log.error("maintenance %s failed after %.2fs: %s", name, duration, error)
        raise
    duration = time.monotonic() - started
    _record(task_runs.record_finish, engine, name, started_at, duration, count, None)
    log.info("maintenance %s: %d in %.2fs", name, count, duration)
    return count


def _record(write: Callable[..., None], *args: object) -> None:
    """Failing to record a run is logged; it never stops or fails the task itself."""
    try:
        write(*args)
    except Exception:
        log.exception("could not record the run of a maintenance task")
