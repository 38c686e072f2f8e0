"""Running one job of queued messages: Postal's dequeue pipeline (reference §3.2, §3.8).

A job names a few `queued_messages` rows (those accepted together). The rows are claimed, the
messages and their raw data read in one query each, the checks every message passes run in
Postal's order (§3.2), and each message goes on to the outgoing pipeline (§3.3, over an SMTP
session shared with the other messages for the same destination and source address) or the
incoming one (§4.2). Each outcome is recorded as soon as it is known, together with those of the process's other
delivery threads (`core.queue.recorder.record_now`), so a crash repeats at most the deliveries
in flight. An unexpected exception becomes an `Error` delivery
and a retry, never a lost message (STYLE rule 9).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select

from core import metrics
from core.db import run_transaction
from core.incoming.bounces import bounce_to_sender
from core.incoming.pipeline import process_incoming
from core.logs import log_context
from core.messages import live_stats, suppressions
from core.messages.deliveries import FINAL_STATUSES
from core.messages.raw_store import load_raw_messages
from core.outgoing.pipeline import process_outgoing
from core.queue import queued_messages as queue
from core.queue.outcome import BatchContext, Outcome, send_result
from core.queue.recorder import Recorder, record_now
from core.runtime import Runtime
from models.base import table
from models.enums import MessageScope, MessageStatus
from models.message.message import Message
from models.queued_message import QueuedMessage

log = logging.getLogger(__name__)

MESSAGES = table(Message)
QUEUED = "queued_messages"
LOAD_MESSAGES = select(MESSAGES).where(MESSAGES.c.id.in_(bindparam("b_ids", expanding=True)))

SUSPENDED = "Mail server has been suspended. No e-mails can be processed at present. Contact support for assistance."
INTERNAL_ERROR = "An internal error occurred while sending this message. This message will be retried automatically."


def process_queued_message(runtime: Runtime, queued_id: int) -> None:
    process_queued_messages(runtime, [queued_id])


def process_queued_messages(runtime: Runtime, queued_ids: Sequence[int]) -> None:
    """The body of the `process_queued_message` actor."""
    engine = runtime.db.engine
    now = runtime.clock()
    rows = queue.claim_many(engine, queued_ids, queue.locker_name(), now)
    if not rows:
        return
    for row in rows:
        if runtime.leases is not None:
            runtime.leases.hold(QUEUED, row.id)
    pending = {row.id: row for row in rows}
    try:
        later = [row.id for row in rows if row.retry_after is not None and row.retry_after > now]
        queue.unlock_many(engine, later)
        for row_id in later:
            del pending[row_id]
        for row in pending.values():
            if row.attempts == 0 and row.created_at is not None:
                # Accepted → first attempt: how far behind the workers of this queue are.
                metrics.MESSAGE_QUEUE_LATENCY.observe(max(0.0, (now - row.created_at).total_seconds()))
        by_server: dict[int, list[QueuedMessage]] = {}
        for row in pending.values():
            by_server.setdefault(row.server_id, []).append(row)
        for server_id, server_rows in by_server.items():
            _process_server(runtime, server_id, server_rows, pending)
    except Exception as exc:
        metrics.WORKER_ERRORS.labels(error=type(exc).__name__).inc()
        log.exception("processing queued messages %s failed", sorted(pending))
        _give_back(runtime, list(pending.values()), exc)
    except BaseException:
        # Interrupted (time limit, shutdown): free the rows for the requeuer and stop.
        _give_back(runtime, list(pending.values()), None)
        raise
    finally:
        for row in rows:
            if runtime.leases is not None:
                runtime.leases.release(QUEUED, row.id)


def _give_back(runtime: Runtime, rows: list[QueuedMessage], exc: Exception | None) -> None:
    """After a failure outside the delivery itself (a database error while loading or recording),
    record an `Error` and schedule a retry like any other; if even that fails, at least unlock the
    rows so the requeuer hands them out again. No row stays locked."""
    if not rows:
        return
    if exc is not None:
        output = f"{type(exc).__name__}: {exc}"
        try:
            recorder = Recorder(runtime, None)
            for row in rows:
                error = send_result(MessageStatus.ERROR, INTERNAL_ERROR, output=output, retry=True)
                recorder.add(row, None, Outcome(error))
            recorder.flush()
            return
        except Exception:
            log.exception("could not record the failure of queued messages %s", [r.id for r in rows])
    try:
        queue.unlock_many(runtime.db.engine, [row.id for row in rows])
    except Exception:
        log.exception("could not unlock queued messages; the requeuer frees them later")


def _process_server(
    runtime: Runtime, server_id: int, rows: list[QueuedMessage], pending: dict[int, QueuedMessage]
) -> None:
    state = runtime.servers.get(server_id)
    if state is None:
        # A deleted server sends nothing more; its rows go with it.
        run_transaction(runtime.db.engine, lambda c: queue.dequeue_many_in(c, [r.id for r in rows]))
        for row in rows:
            del pending[row.id]
        return
    mdb = runtime.message_dbs.get(server_id)
    with mdb.reader.connect() as conn:
        found = conn.execute(LOAD_MESSAGES, {"b_ids": [r.message_id for r in rows]}).all()
        messages: dict[int, Any] = {m.id: m for m in found}
        # A message already finished (e.g. sent just before a crash) is never sent again.
        live = [r for r in rows if _unfinished(messages.get(r.message_id), r)]
        done = [r for r in rows if r not in live]
        if done:
            run_transaction(runtime.db.engine, lambda c: queue.dequeue_many_in(c, [r.id for r in done]))
            for row in done:
                del pending[row.id]
        refs = [messages[r.message_id] for r in live]
        raws = load_raw_messages(conn, [(m.raw_table, m.raw_headers_id, m.raw_body_id) for m in refs])
        now = time.time()
        rcpts = sorted({suppressions.normalise(m.rcpt_to) for m in refs if m.rcpt_to})
        context = BatchContext(
            runtime=runtime,
            state=state,
            conn=conn,
            suppressed={e.address: e for e in suppressions.get_many(conn, rcpts, now)},
            sent_in_hour=live_stats.total(conn, "outgoing", 60, now) if state.server.send_limit is not None else 0,
        )
        try:
            for row, message, raw in zip(live, refs, raws, strict=True):
                with log_context(message_id=row.message_id, server_id=row.server_id):
                    try:
                        outcome = _process(context, row, message, raw)
                    except Exception as exc:
                        metrics.WORKER_ERRORS.labels(error=type(exc).__name__).inc()
                        log.exception("processing message %d of server %d", row.message_id, row.server_id)
                        output = f"{type(exc).__name__}: {exc}"
                        outcome = Outcome(send_result(MessageStatus.ERROR, INTERNAL_ERROR, output=output, retry=True))
                # Recorded before the next message is sent: a crash repeats at most this one.
                record_now(runtime, state, row, message, outcome)
                del pending[row.id]
        finally:
            context.close()


def _unfinished(message: Any, row: QueuedMessage) -> bool:
    return message is not None and (MessageStatus(message.status) not in FINAL_STATUSES or bool(row.manual))


def _process(context: BatchContext, row: QueuedMessage, msg: Any, raw: bytes | None) -> Outcome:
    """The checks of reference §3.2 in Postal's order, then the message's own pipeline."""
    config = context.runtime.config
    if context.state.suspended:
        return Outcome(send_result(MessageStatus.HELD, SUSPENDED))

    if row.attempts >= config.postal.default_maximum_delivery_attempts:
        outcome = Outcome(
            send_result(
                MessageStatus.HARD_FAIL, f"Maximum number of delivery attempts ({row.attempts}) has been reached."
            )
        )
        if msg.scope == MessageScope.OUTGOING.value and msg.rcpt_to:
            outcome.suppress = "too many soft fails"
            outcome.extra_details.append(
                f"Added {msg.rcpt_to} to suppression list because delivery has failed {row.attempts} times."
            )
        elif msg.scope == MessageScope.INCOMING.value and raw is not None:
            bounce_to_sender(context, msg, raw, outcome)
        return outcome

    if raw is None:
        return Outcome(send_result(MessageStatus.HARD_FAIL, "Raw message has been removed. Cannot send message."))
    if msg.scope == MessageScope.INCOMING.value:
        return process_incoming(context, row, msg, raw)
    if msg.scope == MessageScope.OUTGOING.value:
        return process_outgoing(context, row, msg, raw)
    return Outcome(send_result(MessageStatus.HARD_FAIL, f"Scope {msg.scope} is not valid"))
