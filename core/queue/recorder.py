"""Recording the outcomes of a job together (STYLE rule 16): the deliveries, statuses, headers
added for sending and suppression changes in the message database, then the queue rows and the
webhook requests of the events in one main-database transaction, published after it commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from core import metrics
from core.caches import ServerState
from core.db import run_transaction
from core.logs import log_context
from core.messages import complaints, live_stats, suppressions
from core.messages.deliveries import NewDelivery, add_deliveries
from core.messages.raw_store import replace_raw_headers_many
from core.queue import queued_messages as queue
from core.queue.outcome import Outcome
from core.runtime import Runtime
from core.webhooks.events import STATUS_EVENTS, delivery_payload, queue_events
from models.base import table
from models.endpoint import ENDPOINT_MODELS
from models.enums import EndpointType, MessageStatus
from models.message.message import Message
from models.message.spam_check import SpamCheck
from models.queued_message import QueuedMessage
from models.server import Server

log = logging.getLogger(__name__)

MESSAGES = table(Message)
SERVERS = table(Server)
SPAM_CHECKS = table(SpamCheck)
SET_TAG = update(MESSAGES).where(MESSAGES.c.id == bindparam("b_id")).values(tag=bindparam("b_tag"))


class Recorder:
    """Collects outcomes and records them together: message database first, then the queue rows
    and webhooks in one transaction, so that a crash in between repeats the bookkeeping, never the
    sending (the dequeue's status check skips a message already finished)."""

    def __init__(self, runtime: Runtime, state: ServerState | None) -> None:
        self.runtime = runtime
        self.state = state
        self.items: list[tuple[QueuedMessage, Any, Outcome]] = []

    def add(self, row: QueuedMessage, message: Any, outcome: Outcome) -> None:
        self.items.append((row, message, outcome))

    def flush(self) -> list[int]:
        """Record what was added; returns the queue row ids recorded."""
        if not self.items:
            return []
        items, self.items = self.items, []
        runtime = self.runtime
        config = runtime.config
        server_id = items[0][0].server_id
        delivered_at = time.time()
        hold_days = config.postal.default_maximum_hold_expiry_days
        with runtime.message_dbs.get(server_id).transaction() as conn:
            headers: dict[str, list[tuple[int, bytes]]] = {}
            for _, message, outcome in items:
                if outcome.stored_headers is not None and message is not None and message.raw_table:
                    headers.setdefault(message.raw_table, []).append((message.raw_headers_id, outcome.stored_headers))
            for table_name, parts in headers.items():
                replace_raw_headers_many(conn, table_name, parts)
            tags = [{"b_id": row.message_id, "b_tag": o.tag} for row, _, o in items if o.tag is not None]
            if tags:
                conn.execute(SET_TAG, tags)
            counted: dict[str, int] = {}
            for _, _, o in items:
                if o.count_live:
                    counted[o.live_kind] = counted.get(o.live_kind, 0) + 1
            for kind, amount in counted.items():
                live_stats.increment(conn, kind, delivered_at, amount=amount)
            days = config.postal.default_suppression_list_automatic_removal_days
            checks: list[dict[str, Any]] = []
            for row, message, outcome in items:
                if message is not None and outcome.suppress:
                    suppressions.add(conn, message.rcpt_to, outcome.suppress, delivered_at, days)
                if message is not None and outcome.unsuppress:
                    suppressions.remove(conn, message.rcpt_to)
                for address, reason in outcome.suppress_addresses:
                    suppressions.add(conn, address, reason, delivered_at, days)
                if outcome.message_changes:
                    conn.execute(
                        update(MESSAGES).where(MESSAGES.c.id == row.message_id).values(**outcome.message_changes)
                    )
                checks += [
                    {"message_id": row.message_id, "code": code[:255], "score": score, "description": text}
                    for code, score, text in outcome.spam_checks
                ]
            if checks:
                conn.execute(insert(SPAM_CHECKS), checks)
            complaints.add_many(conn, [c for _, _, o in items for c in o.complaints], delivered_at)
            add_deliveries(
                conn,
                [d for _, _, o in items for d in o.related_deliveries],
                timestamp=delivered_at,
            )
            add_deliveries(
                conn,
                [
                    NewDelivery(
                        message_id=row.message_id,
                        status=MessageStatus(o.result.status),
                        details=o.details,
                        output=o.result.output or None,
                        sent_with_ssl=o.result.secure,
                        log_id=o.result.log_id or None,
                        time_taken=o.result.time,
                        hold_expiry=delivered_at + hold_days * 86400,
                    )
                    for row, _, o in items
                    if o.record_delivery
                ],
                timestamp=delivered_at,
            )

        now = runtime.clock()
        server_changes: dict[str, Any] = {}
        retries: list[tuple[QueuedMessage, datetime]] = []
        finished: list[int] = []
        events: list[tuple[str, dict[str, Any]]] = []
        used: dict[str, list[int]] = {}
        for row, message, outcome in items:
            result = outcome.result
            server_changes.update(outcome.server_changes)
            events += outcome.events
            if outcome.endpoint_used is not None:
                used.setdefault(outcome.endpoint_used[0], []).append(outcome.endpoint_used[1])
            if result.retry:
                if result.retry is True:
                    base, factor = config.postal.retry_base_delay, config.postal.retry_backoff_factor
                    delay = queue.retry_delay(row.attempts, base, factor)
                else:
                    delay = timedelta(seconds=int(result.retry))
                retries.append((row, now + delay))
            else:
                finished.append(row.id)
            event = STATUS_EVENTS.get(result.status)
            if event is not None and self.state is not None and message is not None and outcome.record_delivery:
                described = _with_tag(message, outcome.tag) if message.tag is None and outcome.tag else message
                payload = delivery_payload(
                    described, result.status, outcome.details, result.output, result.secure, delivered_at, result.time
                )
                events.append((event, payload))

        def work(conn: Connection) -> list[int]:
            if server_changes:
                conn.execute(update(SERVERS).where(SERVERS.c.id == server_id).values(**server_changes))
            queue.retry_later_many_in(conn, retries, now)
            queue.dequeue_many_in(conn, finished)
            for kind, ids in used.items():
                model = table(ENDPOINT_MODELS[EndpointType(kind)])
                conn.execute(update(model).where(model.c.id.in_(ids)).values(last_used_at=now))
            if self.state is None or not events:
                return []
            return queue_events(conn, self.state, events, now)

        webhook_ids = run_transaction(runtime.db.engine, work)
        # Counted and logged once recorded: a flush that fails is repeated, and counted then.
        for row, _, outcome in items:
            metrics.record_outcome(row.queue, outcome.result.status)
            with log_context(message_id=row.message_id, server_id=row.server_id):
                log.info("%s: %s", outcome.result.status, outcome.details)
        for row, _ in retries:
            metrics.QUEUE_RETRIES.labels(queue=row.queue).inc()
        if server_changes:
            runtime.servers.forget(server_id)
        if webhook_ids:
            runtime.require_publisher().publish_webhook_requests(webhook_ids)
        return [row.id for row, _, _ in items]


def record_now(runtime: Runtime, state: ServerState, row: QueuedMessage, message: Any, outcome: Outcome) -> None:
    """Record one outcome now, in one batch with those the process's other threads are recording
    (group commit, `core.group_commit`); returns once it is committed, raises if it could not be."""
    runtime.recordings.submit((state, row, message, outcome), lambda items: _record_batch(runtime, items))


def _record_batch(
    runtime: Runtime, items: Sequence[tuple[ServerState, QueuedMessage, Any, Outcome]]
) -> list[Exception | None]:
    """One `Recorder` per server in the batch; a server whose recording fails fails alone."""
    by_server: dict[int, list[int]] = {}
    for index, (_, row, _, _) in enumerate(items):
        by_server.setdefault(row.server_id, []).append(index)
    results: list[Exception | None] = [None] * len(items)
    for indexes in by_server.values():
        recorder = Recorder(runtime, items[indexes[0]][0])
        for index in indexes:
            _, row, message, outcome = items[index]
            recorder.add(row, message, outcome)
        try:
            recorder.flush()
        except Exception as exc:
            for index in indexes:
                results[index] = exc
    return results


def _with_tag(msg: Any, tag: str) -> Any:
    values = dict(msg._mapping)
    values["tag"] = tag
    return Message(**values)
