"""Accepting incoming mail: one message per recipient and endpoint (reference §4.1), queued on
`incoming`, or on `bounces` for mail that reached a return-path address; and the mixed batches
of concurrent SMTP sessions, outgoing and incoming together.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.broker import QUEUE_BOUNCES, QUEUE_INCOMING
from core.errors import ValidationError
from core.incoming.recipients import BOUNCE, Recipient, Refusal, classify
from core.incoming.routes import RETURN_PATH_ROUTE, RouteTarget, route_targets
from core.mail.address import domain_of
from core.mail.headers import decode_value, message_id, parse_headers, split_raw
from core.messages.raw_store import store_raw_messages
from core.messages.stats import increment_stats
from core.outgoing.submission import Submission, TestMessage, compose_test_message, submit_outgoing_many
from core.queue.enqueue import (
    INSERT_MESSAGES,
    INSERT_QUEUED,
    Accepted,
    NoRecipients,
    ServerSuspended,
    SubmissionRejected,
    TemporaryFailure,
    count_messages,
    forget_messages,
    publish_queued,
)
from core.runtime import Runtime
from core.tokens import message_token
from models.enums import MessageScope
from models.route import Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoutedRecipient:
    """One recipient of incoming mail: through a route, or a bounce candidate (`route_id` None
    unless the server has a `__returnpath__` route, found when storing)."""

    rcpt_to: str
    route_id: int | None
    bounce: bool = False


@dataclass(frozen=True)
class IncomingSubmission:
    """Mail received for one server's routes or return-path addresses."""

    server_id: int
    mail_from: str
    recipients: Sequence[RoutedRecipient]
    raw: bytes
    received_with_ssl: bool = False


@dataclass
class _IncomingRow:
    index: int
    rcpt_to: str
    route_id: int | None
    domain_id: int | None
    endpoint: RouteTarget | None
    bounce: bool


def submit_incoming_many(
    runtime: Runtime, submissions: Sequence[IncomingSubmission]
) -> list[Accepted | SubmissionRejected]:
    """Store and queue incoming mail: one message per recipient and endpoint (reference §4.1),
    queued on `incoming`, or on `bounces` for mail that reached a return-path address."""
    results: list[Accepted | SubmissionRejected] = [
        SubmissionRejected("ServerNotFound", "The mail server no longer exists") for _ in submissions
    ]
    states = runtime.servers.get_many(s.server_id for s in submissions)
    by_server: dict[int, list[int]] = defaultdict(list)
    for index, sub in enumerate(submissions):
        state = states.get(sub.server_id)
        if state is None:
            continue
        if state.suspended:
            results[index] = ServerSuspended()
        elif not sub.recipients:
            results[index] = NoRecipients()
        else:
            by_server[sub.server_id].append(index)

    for server_id, indexes in by_server.items():
        items = [submissions[i] for i in indexes]
        now = runtime.clock()
        try:
            rows = _incoming_rows(runtime, server_id, indexes, items)
            created = _store_incoming(runtime, server_id, indexes, items, rows, now)
        except Exception:
            log.exception("storing %d incoming messages for server %d failed", len(items), server_id)
            for index in indexes:
                results[index] = TemporaryFailure()
            continue
        try:
            queued = _queue_incoming(runtime, server_id, rows, created, now)
        except Exception:
            log.exception("queueing %d incoming messages for server %d failed", len(created), server_id)
            forget_messages(runtime, server_id, [(0, "", mid, "") for mid, _ in created])
            for index in indexes:
                results[index] = TemporaryFailure()
            continue
        publish_queued(runtime, queued)
        headers = {i: parse_headers(split_raw(submissions[i].raw)[0]) for i in indexes}
        for index in indexes:
            results[index] = Accepted(
                message_id=message_id(headers[index]),
                messages=[
                    (row.rcpt_to, mid, token)
                    for row, (mid, token) in zip(rows, created, strict=True)
                    if row.index == index
                ],
            )
    return results


def _incoming_rows(
    runtime: Runtime, server_id: int, indexes: list[int], items: list[IncomingSubmission]
) -> list[_IncomingRow]:
    """One row per message to create: a route with additional endpoints makes one per endpoint;
    return-path mail goes to the server's `__returnpath__` route when it has one."""
    route_ids = {r.route_id for sub in items for r in sub.recipients if r.route_id is not None}
    with runtime.db.reader.connect() as conn, Session(bind=conn) as session:
        routes = {r.id: r for r in session.scalars(select(Route).where(Route.id.in_(route_ids)))} if route_ids else {}
        return_path = None
        if any(r.bounce for sub in items for r in sub.recipients):
            return_path = session.scalar(
                select(Route).where(Route.server_id == server_id, Route.name == RETURN_PATH_ROUTE).limit(1)
            )
        targets = {route_id: route_targets(session, route) for route_id, route in routes.items()}
        if return_path is not None:
            targets.setdefault(return_path.id, route_targets(session, return_path))
    rows: list[_IncomingRow] = []
    for index, sub in zip(indexes, items, strict=True):
        for recipient in sub.recipients:
            route = return_path if recipient.bounce else routes.get(recipient.route_id or -1)
            if route is None:
                rows.append(_IncomingRow(index, recipient.rcpt_to, None, None, None, recipient.bounce))
                continue
            for target in targets[route.id]:
                rows.append(_IncomingRow(index, recipient.rcpt_to, route.id, route.domain_id, target, recipient.bounce))
    return rows


def _store_incoming(
    runtime: Runtime,
    server_id: int,
    indexes: list[int],
    items: list[IncomingSubmission],
    rows: list[_IncomingRow],
    now: datetime,
) -> list[tuple[int, str]]:
    """Raw data once per piece of mail, a message row per `rows` entry; (id, token) each."""
    mdb = runtime.message_dbs.get(server_id)
    timestamp = time.time()
    facts: dict[int, tuple[str | None, str | None]] = {}
    for index, sub in zip(indexes, items, strict=True):
        headers = parse_headers(split_raw(sub.raw)[0])
        subject = decode_value(headers.get("Subject"))
        facts[index] = (subject[:200] if subject else None, message_id(headers))
    by_index = dict(zip(indexes, items, strict=True))
    values: list[dict[str, object]] = []
    tokens: list[str] = []
    with mdb.transaction() as conn:
        table_name, raw_ids = store_raw_messages(conn, mdb, [sub.raw for sub in items], now.date())
        raw_of = dict(zip(indexes, raw_ids, strict=True))
        for row in rows:
            sub = by_index[row.index]
            subject, found_id = facts[row.index]
            headers_id, body_id = raw_of[row.index]
            token = message_token()
            tokens.append(token)
            values.append(
                {
                    "token": token,
                    "scope": MessageScope.INCOMING.value,
                    "rcpt_to": row.rcpt_to,
                    "mail_from": sub.mail_from,
                    "subject": subject,
                    "message_id": found_id,
                    "timestamp": timestamp,
                    "route_id": row.route_id,
                    "domain_id": row.domain_id,
                    "status": "Pending",
                    "size": len(sub.raw),
                    "raw_table": table_name,
                    "raw_headers_id": headers_id,
                    "raw_body_id": body_id,
                    "bounce": row.bounce,
                    "received_with_ssl": sub.received_with_ssl,
                    "endpoint_type": row.endpoint.endpoint_type.value
                    if row.endpoint is not None and row.endpoint.endpoint_type is not None
                    else None,
                    "endpoint_id": row.endpoint.endpoint_id if row.endpoint is not None else None,
                }
            )
        result = conn.execute(INSERT_MESSAGES, values)
        ids = [int(r[0]) for r in result.all()]
        increment_stats(conn, now, {"incoming": len(values)})
    return list(zip(ids, tokens, strict=True))


def _queue_incoming(
    runtime: Runtime, server_id: int, rows: list[_IncomingRow], created: list[tuple[int, str]], now: datetime
) -> list[tuple[int, str]]:
    values: list[dict[str, object]] = []
    for row, (mid, _) in zip(rows, created, strict=True):
        target = row.endpoint
        values.append(
            {
                "server_id": server_id,
                "message_id": mid,
                "domain": domain_of(row.rcpt_to),
                "route_id": row.route_id,
                "batch_key": f"incoming-{row.route_id}-{target.endpoint_type}-{target.endpoint_id}"
                if target is not None
                else None,
                "queue": QUEUE_BOUNCES if row.bounce else QUEUE_INCOMING,
                "published_at": now,
                "attempts": 0,
                "manual": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    with runtime.db.engine.begin() as conn:
        result = conn.execute(INSERT_QUEUED, values)
        ids = [int(r[0]) for r in result.all()]
        count_messages(conn, incoming=len(created))
    return [(qid, str(v["queue"])) for qid, v in zip(ids, values, strict=True)]


def submit_many(
    runtime: Runtime, items: Sequence[Submission | IncomingSubmission]
) -> list[Accepted | SubmissionRejected]:
    """Outgoing and incoming submissions of concurrent SMTP sessions, stored together; per item
    an Accepted or the rejection."""
    results: list[Accepted | SubmissionRejected | None] = [None] * len(items)
    outgoing = [(i, s) for i, s in enumerate(items) if isinstance(s, Submission)]
    incoming = [(i, s) for i, s in enumerate(items) if isinstance(s, IncomingSubmission)]
    if outgoing:
        for (i, _), result in zip(outgoing, submit_outgoing_many(runtime, [s for _, s in outgoing]), strict=True):
            results[i] = result
    if incoming:
        for (i, _), result in zip(incoming, submit_incoming_many(runtime, [s for _, s in incoming]), strict=True):
            results[i] = result
    return [r if r is not None else TemporaryFailure() for r in results]


def submit_test_incoming(runtime: Runtime, server_id: int, message: TestMessage) -> Accepted:
    """Receive a test message as the SMTP server would from the internet: the recipient must be
    an address one of this server's routes (or its return path) takes; what it is and where it
    goes are decided as at RCPT time."""
    mail_from, rcpt_to, raw = compose_test_message(runtime, message)
    decision = classify(runtime.db, runtime.config, rcpt_to, None)
    if (
        not isinstance(decision, Recipient)
        or decision.server_id != server_id
        or decision.kind == MessageScope.OUTGOING.value
    ):
        if decision is Refusal.ROUTE_REJECTS:
            raise ValidationError("to", "is refused by its route (its mode rejects incoming mail)")
        raise ValidationError("to", "is not an address this server receives mail for (add a route for it first)")
    recipient = RoutedRecipient(decision.rcpt_to, decision.route_id, bounce=decision.kind == BOUNCE)
    [result] = submit_incoming_many(runtime, [IncomingSubmission(server_id, mail_from, [recipient], raw)])
    if isinstance(result, SubmissionRejected):
        raise result
    return result
