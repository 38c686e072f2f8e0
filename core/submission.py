"""Accepting mail for delivery: one function shared by the SMTP server and the HTTP API.

`submit_many` takes the submissions of several concurrent sessions at once and writes them with
one transaction per database, so the per-message cost is a few rows in multi-row statements,
not a round trip each (DESIGN §10). The job is published only after both commits (STYLE rule 7).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message as EmailMessage
from email.utils import formatdate

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from core.broker import QUEUE_BOUNCES, QUEUE_INCOMING, QUEUE_OUTGOING, BrokerUnavailable
from core.errors import PostalError
from core.ip_pools import allocate
from core.mail.address import domain_of, strip_tag
from core.mail.headers import addresses, decode_value, message_id, parse_headers, split_raw
from core.raw_store import store_raw_messages
from core.routes import RETURN_PATH_ROUTE, RouteTarget, route_targets
from core.runtime import Runtime
from core.server_cache import ServerState
from core.stats import increment_stats
from core.tokens import message_token
from models.base import table
from models.domain import Domain
from models.enums import MessageScope
from models.message.message import Message
from models.queued_message import QueuedMessage
from models.route import Route
from models.statistic import Statistic

log = logging.getLogger(__name__)


class SubmissionRejected(PostalError):
    """The message is refused; `code` is the HTTP API error code, the text its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServerSuspended(SubmissionRejected):
    def __init__(self) -> None:
        super().__init__("ServerSuspended", "Mail server has been suspended")


class NoRecipients(SubmissionRejected):
    def __init__(self) -> None:
        super().__init__("NoRecipients", "There are no recipients defined to receive this message")


class TemporaryFailure(SubmissionRejected):
    """Nothing was stored (a database could not be reached); the client should try again."""

    def __init__(self) -> None:
        super().__init__("TemporaryError", "The message could not be stored; try again later")


class UnauthenticatedFrom(SubmissionRejected):
    def __init__(self) -> None:
        super().__init__(
            "UnauthenticatedFromAddress", "The From address is not authorised to send mail from this server"
        )


@dataclass(frozen=True)
class Submission:
    """One piece of mail for one server, to one or more recipients."""

    server_id: int
    mail_from: str
    rcpt_to: Sequence[str]
    raw: bytes
    credential_id: int | None = None
    received_with_ssl: bool = False
    tag: str | None = None
    bounce: bool = False
    # For a bounce message made here: the incoming message it bounces.
    bounce_for_id: int | None = None


@dataclass
class Accepted:
    message_id: str | None
    # (recipient, message id, token) per recipient, in order.
    messages: list[tuple[str, int, str]] = field(default_factory=list)


_random = random.Random()

MESSAGES = table(Message)
QUEUED = table(QueuedMessage)
STATISTICS = table(Statistic)

# Built once: building a statement costs far more than running it.
INSERT_MESSAGES = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
INSERT_QUEUED = insert(QUEUED).returning(QUEUED.c.id, sort_by_parameter_order=True)
COUNT_MESSAGES = update(STATISTICS).values(
    total_messages=STATISTICS.c.total_messages + bindparam("b_outgoing") + bindparam("b_incoming"),
    total_outgoing=STATISTICS.c.total_outgoing + bindparam("b_outgoing"),
    total_incoming=STATISTICS.c.total_incoming + bindparam("b_incoming"),
)


def _domain_for(state: ServerState, address: str) -> Domain | None:
    domain = state.verified_domain(domain_of(strip_tag(address)))
    return domain if domain is not None else state.any_domain


def authenticated_domain(state: ServerState, headers: EmailMessage) -> Domain | None:
    """The verified domain that authorises the From (or, with allow_sender, the Sender) header.

    Every address in the header must be authorised; the first one's domain is returned
    (reference §3.1: the server's own domains win over the organization's).
    """
    names = ["From"] + (["Sender"] if state.server.allow_sender else [])
    for name in names:
        found = addresses(headers, name)
        if not found:
            continue
        domains = [_domain_for(state, address) for address in found]
        if all(d is not None for d in domains):
            return domains[0]
    return None


@dataclass
class _Prepared:
    index: int
    submission: Submission
    raw: bytes
    from_addresses: list[str]
    domain_id: int
    subject: str | None
    message_id: str | None
    recipients: list[str]


def _complete_headers(raw: bytes, headers: EmailMessage, id_domain: str) -> tuple[bytes, str | None]:
    """Add the Message-ID and Date a submission server should add when the client left them out
    (RFC 6409 §8.1, §8.3); returns the raw message and its Message-ID."""
    added = b""
    found = message_id(headers)
    if found is None:
        found = f"{uuid.uuid4()}@{id_domain}"
        added += f"Message-ID: <{found}>\r\n".encode()
    if headers.get("Date") is None:
        added += f"Date: {formatdate()}\r\n".encode()
    return added + raw, found


def submit_outgoing_many(runtime: Runtime, submissions: Sequence[Submission]) -> list[Accepted | SubmissionRejected]:
    """Store and queue every acceptable submission; per submission an Accepted or the rejection
    (`TemporaryFailure` when its server's messages could not be stored).

    Raises only when the servers themselves cannot be looked up; then nothing was stored.
    """
    results: list[Accepted | SubmissionRejected] = [
        SubmissionRejected("ServerNotFound", "The mail server no longer exists") for _ in submissions
    ]
    states = runtime.servers.get_many(s.server_id for s in submissions)
    id_domain = runtime.config.dns.return_path_domain

    by_server: dict[int, list[_Prepared]] = defaultdict(list)
    for index, sub in enumerate(submissions):
        state = states.get(sub.server_id)
        if state is None:
            continue
        if state.suspended:
            results[index] = ServerSuspended()
            continue
        headers = parse_headers(split_raw(sub.raw)[0])
        domain = authenticated_domain(state, headers)
        if domain is None:
            results[index] = UnauthenticatedFrom()
            continue
        recipients = list(dict.fromkeys(r.strip() for r in sub.rcpt_to if r.strip()))
        if not recipients:
            results[index] = NoRecipients()
            continue
        raw, found_id = _complete_headers(sub.raw, headers, id_domain)
        subject = decode_value(headers.get("Subject"))
        by_server[sub.server_id].append(
            _Prepared(
                index=index,
                submission=sub,
                raw=raw,
                from_addresses=addresses(headers, "From"),
                domain_id=domain.id,
                subject=subject[:200] if subject else None,
                message_id=found_id,
                recipients=recipients,
            )
        )

    for server_id, prepared in by_server.items():
        # Each server's messages are stored on their own: a failure there must not turn the
        # answer for messages already stored for another server into an error.
        now = runtime.clock()
        try:
            created = _store_messages(runtime, server_id, prepared, now)
        except Exception:
            log.exception("storing %d messages for server %d failed", len(prepared), server_id)
            for item in prepared:
                results[item.index] = TemporaryFailure()
            continue
        try:
            queued = _queue_messages(runtime, states[server_id], prepared, created, now)
        except Exception:
            log.exception("queueing %d messages for server %d failed", len(created), server_id)
            _forget_messages(runtime, server_id, created)
            for item in prepared:
                results[item.index] = TemporaryFailure()
            continue
        _publish(runtime, queued)
        for item in prepared:
            results[item.index] = Accepted(
                message_id=item.message_id,
                messages=[(rcpt, mid, token) for (i, rcpt, mid, token) in created if i == item.index],
            )
    return results


def submit(runtime: Runtime, submission: Submission) -> Accepted:
    result = submit_outgoing_many(runtime, [submission])[0]
    if isinstance(result, SubmissionRejected):
        raise result
    return result


def submit_bounce(
    runtime: Runtime, state: ServerState, domain_id: int | None, rcpt_to: str, raw: bytes, bounce_for_id: int
) -> tuple[int, str]:
    """Store and queue a bounce message the platform made (reference §4.4): outgoing, to the
    sender of `bounce_for_id`, sent with an empty MAIL FROM. Its From is ours, so the From check
    of submissions does not apply. Returns the new message's id and token."""
    headers = parse_headers(split_raw(raw)[0])
    subject = decode_value(headers.get("Subject"))
    sub = Submission(
        server_id=state.server.id, mail_from="", rcpt_to=[rcpt_to], raw=raw, bounce=True, bounce_for_id=bounce_for_id
    )
    domain = state.domains.get(domain_id) if domain_id is not None else None
    if domain is None:
        domain = state.any_domain
    prepared = _Prepared(
        index=0,
        submission=sub,
        raw=raw,
        from_addresses=addresses(headers, "From"),
        domain_id=domain.id if domain is not None else 0,
        subject=subject[:200] if subject else None,
        message_id=message_id(headers),
        recipients=[rcpt_to],
    )
    now = runtime.clock()
    created = _store_messages(runtime, state.server.id, [prepared], now)
    try:
        queued = _queue_messages(runtime, state, [prepared], created, now)
    except Exception:
        _forget_messages(runtime, state.server.id, created)
        raise
    _publish(runtime, queued)
    _, _, mid, token = created[0]
    return mid, token


def _store_messages(
    runtime: Runtime, server_id: int, prepared: list[_Prepared], now: datetime
) -> list[tuple[int, str, int, str]]:
    """Write raw data and message rows in one transaction; (index, rcpt, message id, token) each."""
    mdb = runtime.message_dbs.get(server_id)
    timestamp = time.time()
    rows: list[dict[str, object]] = []
    keys: list[tuple[int, str, str]] = []
    with mdb.transaction() as conn:
        table_name, raw_ids = store_raw_messages(conn, mdb, [p.raw for p in prepared], now.date())
        for item, (headers_id, body_id) in zip(prepared, raw_ids, strict=True):
            sub = item.submission
            for rcpt in item.recipients:
                token = message_token()
                keys.append((item.index, rcpt, token))
                rows.append(
                    {
                        "token": token,
                        "scope": MessageScope.OUTGOING.value,
                        "rcpt_to": rcpt,
                        "mail_from": sub.mail_from,
                        "subject": item.subject,
                        "message_id": item.message_id,
                        "timestamp": timestamp,
                        "domain_id": item.domain_id,
                        "credential_id": sub.credential_id,
                        "status": "Pending",
                        "size": len(item.raw),
                        "raw_table": table_name,
                        "raw_headers_id": headers_id,
                        "raw_body_id": body_id,
                        "bounce": sub.bounce,
                        "bounce_for_id": sub.bounce_for_id,
                        "tag": sub.tag,
                        "received_with_ssl": sub.received_with_ssl,
                    }
                )
        result = conn.execute(INSERT_MESSAGES, rows)
        ids = [int(r[0]) for r in result.all()]
        increment_stats(conn, now, {"outgoing": len(rows)})
    return [(i, rcpt, mid, token) for (i, rcpt, token), mid in zip(keys, ids, strict=True)]


def _queue_messages(
    runtime: Runtime,
    state: ServerState,
    prepared: list[_Prepared],
    created: list[tuple[int, str, int, str]],
    now: datetime,
) -> list[tuple[int, str]]:
    """One queue row per message, with its source address and queue when IP pools are on."""
    pools = runtime.pools.get() if runtime.config.postal.use_ip_pools else None
    senders = {item.index: item.from_addresses for item in prepared}
    rows: list[dict[str, object]] = []
    for index, rcpt, mid, _ in created:
        domain = domain_of(rcpt)
        address_id, queue_name = None, QUEUE_OUTGOING
        if pools is not None:
            address_id, queue_name = allocate(state, pools, senders[index], rcpt, _random)
        rows.append(
            {
                "server_id": state.server.id,
                "message_id": mid,
                "domain": domain,
                "batch_key": f"outgoing-{domain}",
                "ip_address_id": address_id,
                "queue": queue_name,
                # Published right after this commit; the requeuer covers a failed publish.
                "published_at": now,
                "attempts": 0,
                "manual": False,
                "created_at": now,
                "updated_at": now,
            }
        )
    with runtime.db.engine.begin() as conn:
        result = conn.execute(INSERT_QUEUED, rows)
        ids = [int(r[0]) for r in result.all()]
        _count_messages(conn, outgoing=len(created))
    return [(qid, str(row["queue"])) for qid, row in zip(ids, rows, strict=True)]


def _count_messages(conn: Connection, outgoing: int = 0, incoming: int = 0) -> None:
    """The installation-wide counters (one row, created by `postal initialize`)."""
    updated = conn.execute(COUNT_MESSAGES, {"b_outgoing": outgoing, "b_incoming": incoming}).rowcount
    if not updated:
        conn.execute(
            insert(STATISTICS).values(
                total_messages=outgoing + incoming, total_outgoing=outgoing, total_incoming=incoming
            )
        )


def _forget_messages(runtime: Runtime, server_id: int, created: list[tuple[int, str, int, str]]) -> None:
    """Undo the message rows when queueing failed, so a client's retry does not leave twins."""
    try:
        with runtime.message_dbs.get(server_id).transaction() as conn:
            conn.execute(delete(MESSAGES).where(MESSAGES.c.id.in_([c[2] for c in created])))
    except Exception:
        log.exception("could not remove %d unqueued messages of server %d", len(created), server_id)


def _publish(runtime: Runtime, queued: list[tuple[int, str]]) -> None:
    """Publish after commit. A broker failure loses nothing: the requeuer finds the rows."""
    try:
        runtime.require_publisher().publish_queued_messages(queued)
    except BrokerUnavailable as exc:
        log.warning("%s; %d queued messages will be published by the requeuer", exc, len(queued))
        try:
            with runtime.db.engine.begin() as conn:
                conn.execute(update(QUEUED).where(QUEUED.c.id.in_([q[0] for q in queued])).values(published_at=None))
        except Exception:
            log.exception("could not mark queued messages unpublished; the requeuer finds them later anyway")


# -- incoming -------------------------------------------------------------------------------------


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
            _forget_messages(runtime, server_id, [(0, "", mid, "") for mid, _ in created])
            for index in indexes:
                results[index] = TemporaryFailure()
            continue
        _publish(runtime, queued)
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
        _count_messages(conn, incoming=len(created))
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
