"""Processing queued outgoing messages: Postal's dequeue pipeline (reference §3.2-3.3, §3.8).

A job names a few `queued_messages` rows (those accepted together). The rows are claimed, the
messages and their raw data read in one query each, the checks run in Postal's order, each
message is delivered over an SMTP session shared with the other messages for the same
destination and source address (`SenderPool`), and the outcomes are recorded together: the
deliveries, statuses, headers added for sending and suppression changes (message database),
then the queue rows and the webhook requests of the events (main database, one transaction).
Outcomes are recorded at least every `FLUSH_SECONDS`, so a crash repeats little. An unexpected
exception becomes an `Error` delivery and a retry, never a lost message (STYLE rule 9).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from core import live_stats, queue, suppressions
from core.db import run_transaction
from core.deliveries import FINAL_STATUSES, NewDelivery, add_deliveries
from core.ip_pools import SourceAddress
from core.mail import dkim
from core.mail.address import domain_of
from core.mail.headers import join_raw, parse_headers, split_raw
from core.mail.sender_pool import SenderPool
from core.mail.smtp_client import SendResult, SMTPSender
from core.raw_store import load_raw_messages, replace_raw_headers_many
from core.routes import ENDPOINT_MODELS
from core.runtime import Runtime
from core.server_cache import ServerState
from core.signing import signing_key
from core.webhooks import STATUS_EVENTS, delivery_payload, queue_events
from models.base import table, utcnow
from models.domain import Domain
from models.enums import DNSStatus, EndpointType, MessageScope, MessageStatus, ServerMode
from models.message.message import Message
from models.message.spam_check import SpamCheck
from models.queued_message import QueuedMessage
from models.server import Server

log = logging.getLogger(__name__)

MESSAGES = table(Message)
SERVERS = table(Server)
SPAM_CHECKS = table(SpamCheck)
QUEUED = "queued_messages"
LOAD_MESSAGES = select(MESSAGES).where(MESSAGES.c.id.in_(bindparam("b_ids", expanding=True)))
# Outcomes are recorded at least this often while a job is still delivering.
FLUSH_SECONDS = 1.0
SET_TAG = update(MESSAGES).where(MESSAGES.c.id == bindparam("b_id")).values(tag=bindparam("b_tag"))
RECENT_HARD_FAILS = select(func.count()).where(
    MESSAGES.c.rcpt_to == bindparam("b_rcpt"),
    MESSAGES.c.status == MessageStatus.HARD_FAIL.value,
    MESSAGES.c.timestamp > bindparam("b_since"),
)

SUSPENDED = "Mail server has been suspended. No e-mails can be processed at present. Contact support for assistance."
INTERNAL_ERROR = "An internal error occurred while sending this message. This message will be retried automatically."
CREDENTIAL_HOLD = "Credential is configured to hold all messages authenticated by it."
DEVELOPMENT_MODE = "Server is in development mode."

_pool_lock = threading.Lock()


@dataclass
class Outcome:
    """What the pipeline decided for one message, to be recorded in one go."""

    result: SendResult
    # The header block to store in place of the message's own: DKIM-Signature and X-Postal-MsgID
    # prepended to outgoing mail, the X-Postal-Spam headers to incoming mail.
    stored_headers: bytes | None = None
    tag: str | None = None
    count_live: bool = False
    live_kind: str = "outgoing"
    suppress: str | None = None
    unsuppress: bool = False
    extra_details: list[str] = field(default_factory=list)
    # Send-limit timestamps of the server to store (column → value).
    server_changes: dict[str, Any] = field(default_factory=dict)
    # Columns of the message to change (inspection results, the original a bounce is for).
    message_changes: dict[str, Any] = field(default_factory=dict)
    # Spam checks to store for the message: (code, score, description).
    spam_checks: list[tuple[str, float, str | None]] = field(default_factory=list)
    # Deliveries of other messages of the server (the originals of a bounce).
    related_deliveries: list[NewDelivery] = field(default_factory=list)
    # Webhook events besides the one of the delivery's status.
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Addresses to add to the server's suppression list: (address, reason).
    suppress_addresses: list[tuple[str, str]] = field(default_factory=list)
    # False when the queue row goes without a delivery (a route's bounce that cannot be sent).
    record_delivery: bool = True
    # The endpoint that took the message, to mark used: (endpoint type, id).
    endpoint_used: tuple[str, int] | None = None

    @property
    def details(self) -> str:
        text = self.result.details
        for extra in self.extra_details:
            if not text.endswith("."):
                text += "."
            text += " " + extra
        return text


def _result(status: MessageStatus, details: str, **kwargs: Any) -> SendResult:
    return SendResult(status.value, details, **kwargs)


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
        by_server: dict[int, list[QueuedMessage]] = {}
        for row in pending.values():
            by_server.setdefault(row.server_id, []).append(row)
        for server_id, server_rows in by_server.items():
            _process_server(runtime, server_id, server_rows, pending)
    except Exception as exc:
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
                error = _result(MessageStatus.ERROR, INTERNAL_ERROR, output=output, retry=True)
                recorder.add(row, None, Outcome(error))
            recorder.flush()
            return
        except Exception:
            log.exception("could not record the failure of queued messages %s", [r.id for r in rows])
    try:
        queue.unlock_many(runtime.db.engine, [row.id for row in rows])
    except Exception:
        log.exception("could not unlock queued messages; the requeuer frees them later")


@dataclass
class BatchContext:
    """What the messages of one server in one job share, read once."""

    runtime: Runtime
    state: ServerState
    conn: Connection
    suppressed: dict[str, Any]
    sent_in_hour: int
    hard_fails: dict[str, int] = field(default_factory=dict)
    # Incoming mail: routes and endpoints read once per job, SMTP sessions to SMTP endpoints.
    routes: dict[int, Any] = field(default_factory=dict)
    endpoints: dict[tuple[str, int], Any] = field(default_factory=dict)
    endpoint_senders: dict[int, SMTPSender] = field(default_factory=dict)

    def close(self) -> None:
        for sender in self.endpoint_senders.values():
            sender.finish()
        self.endpoint_senders.clear()


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
    recorder = Recorder(runtime, state)
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
        last_flush = time.monotonic()
        try:
            for row, message, raw in zip(live, refs, raws, strict=True):
                try:
                    outcome = _pipeline(context, row, message, raw)
                except Exception as exc:
                    log.exception("processing message %d of server %d", row.message_id, row.server_id)
                    output = f"{type(exc).__name__}: {exc}"
                    outcome = Outcome(_result(MessageStatus.ERROR, INTERNAL_ERROR, output=output, retry=True))
                recorder.add(row, message, outcome)
                if time.monotonic() - last_flush >= FLUSH_SECONDS:
                    for recorded in recorder.flush():
                        del pending[recorded]
                    last_flush = time.monotonic()
        finally:
            context.close()
        for recorded in recorder.flush():
            del pending[recorded]


def _unfinished(message: Any, row: QueuedMessage) -> bool:
    return message is not None and (MessageStatus(message.status) not in FINAL_STATUSES or bool(row.manual))


def _pipeline(context: BatchContext, row: QueuedMessage, msg: Any, raw: bytes | None) -> Outcome:
    """The checks of reference §3.2-3.3 in Postal's order, then the SMTP delivery."""
    runtime, state = context.runtime, context.state
    config = runtime.config

    # -- every message (reference §3.2) ----------------------------------------------------------
    if state.suspended:
        return Outcome(_result(MessageStatus.HELD, SUSPENDED))

    if row.attempts >= config.postal.default_maximum_delivery_attempts:
        outcome = Outcome(
            _result(MessageStatus.HARD_FAIL, f"Maximum number of delivery attempts ({row.attempts}) has been reached.")
        )
        if msg.scope == MessageScope.OUTGOING.value and msg.rcpt_to:
            outcome.suppress = "too many soft fails"
            outcome.extra_details.append(
                f"Added {msg.rcpt_to} to suppression list because delivery has failed {row.attempts} times."
            )
        elif msg.scope == MessageScope.INCOMING.value and raw is not None:
            from core.incoming import bounce_to_sender

            bounce_to_sender(context, msg, raw, outcome)
        return outcome

    if raw is None:
        return Outcome(_result(MessageStatus.HARD_FAIL, "Raw message has been removed. Cannot send message."))

    if msg.scope == MessageScope.INCOMING.value:
        from core.incoming import process_incoming

        return process_incoming(context, row, msg, raw)

    if msg.scope != MessageScope.OUTGOING.value:
        return Outcome(_result(MessageStatus.HARD_FAIL, f"Scope {msg.scope} is not valid"))

    # -- outgoing (reference §3.3) ---------------------------------------------------------------
    domain = state.domains.get(msg.domain_id) if msg.domain_id is not None else None
    if domain is None:
        return Outcome(_result(MessageStatus.HARD_FAIL, "Message's domain no longer exist"))
    rcpt_to = msg.rcpt_to
    if not rcpt_to:
        return Outcome(_result(MessageStatus.HARD_FAIL, "Message doesn't have an RCPT to"))

    header_block, body = split_raw(raw)
    headers = parse_headers(header_block)
    outcome = Outcome(_result(MessageStatus.PENDING, ""))
    if msg.tag is None:
        tags = headers.get_all("X-Postal-Tag") or []
        if tags:
            outcome.tag = str(tags[-1]).strip()[:255]

    def stop(status: MessageStatus, details: str) -> Outcome:
        outcome.result = _result(status, details)
        return outcome

    if not row.manual and msg.credential_id is not None and msg.credential_id in state.holding_credentials:
        return stop(MessageStatus.HELD, CREDENTIAL_HOLD)

    now = time.time()
    rcpt_key = suppressions.normalise(rcpt_to)
    if not row.manual:
        entry = context.suppressed.get(rcpt_key)
        if entry is not None:
            return stop(
                MessageStatus.HELD, f"Recipient ({rcpt_to}) is on the suppression list (reason: {entry.reason})"
            )

    threshold = state.server.outbound_spam_threshold
    if threshold is not None and not msg.inspected:
        from core.incoming import inspect_outgoing

        score = inspect_outgoing(context, msg, raw, outcome)
        if score is not None and score >= float(threshold):
            return stop(
                MessageStatus.HARD_FAIL,
                f"Message is likely spam. Threshold is {float(threshold)} and the message scored {score}.",
            )

    if headers.get("X-Postal-MsgID") is None:
        header_block = _stored_headers(runtime, domain, header_block, body, msg.token, int(now))
        outcome.stored_headers = header_block
        raw = join_raw(header_block, body)

    server = state.server
    if server.send_limit is not None:
        sent = context.sent_in_hour
        if sent >= server.send_limit:
            outcome.server_changes = {"send_limit_exceeded_at": utcnow(), "send_limit_approaching_at": None}
            return stop(MessageStatus.HELD, f"Message held because send limit ({server.send_limit}) has been reached.")
        if sent >= server.send_limit * 0.9:
            outcome.server_changes = {"send_limit_approaching_at": utcnow(), "send_limit_exceeded_at": None}
        elif server.send_limit_approaching_at is not None or server.send_limit_exceeded_at is not None:
            outcome.server_changes = {"send_limit_approaching_at": None, "send_limit_exceeded_at": None}

    outcome.count_live = True
    context.sent_in_hour += 1

    if server.mode == ServerMode.DEVELOPMENT and not row.manual:
        return stop(MessageStatus.HELD, DEVELOPMENT_MODE)

    mail_from = return_path(runtime, server, domain, bool(msg.bounce), msg.token)
    if config.postal.use_resent_sender_header:
        raw = f"Resent-Sender: {mail_from}\r\n".encode() + raw
    source = runtime.pools.get().addresses.get(row.ip_address_id) if row.ip_address_id is not None else None
    with sender_pool(runtime).session((domain_of(rcpt_to), source)) as sender:
        outcome.result = sender.send(mail_from, rcpt_to, raw)

    if outcome.result.status == MessageStatus.HARD_FAIL.value:
        recent = context.conn.execute(RECENT_HARD_FAILS, {"b_rcpt": rcpt_to, "b_since": now - 86400}).scalar()
        recent = (recent or 0) + context.hard_fails.get(rcpt_key, 0)
        context.hard_fails[rcpt_key] = context.hard_fails.get(rcpt_key, 0) + 1
        if recent:
            outcome.suppress = "too many hard fails"
            outcome.extra_details.append("Recipient added to suppression list (too many hard fails)")
            context.suppressed[rcpt_key] = outcome
    elif outcome.result.status == MessageStatus.SENT.value and rcpt_key in context.suppressed:
        outcome.unsuppress = True
        outcome.extra_details.append("Recipient removed from suppression list")
        del context.suppressed[rcpt_key]
    return outcome


def _stored_headers(runtime: Runtime, domain: Domain, header_block: bytes, body: bytes, token: str, now: int) -> bytes:
    """Prepend `DKIM-Signature` and `X-Postal-MsgID` (reference §3.3 step 7, §3.4): the domain's
    own key once its DKIM record checks out, else the installation key for the return path domain."""
    config = runtime.config
    if domain.dkim_status == DNSStatus.OK:
        pem, d = domain.dkim_private_key, domain.name
        selector = f"{config.dns.dkim_identifier}-{domain.dkim_identifier_string}"
    else:
        pem = signing_key(config.signing_key_path).pem
        d, selector = config.dns.return_path_domain, config.dns.dkim_identifier
    signature = dkim.sign(header_block, body, d, selector, pem, now)
    return signature + f"X-Postal-MsgID: {token}\r\n".encode() + header_block


class Recorder:
    """Collects outcomes and records them together: message database first, then the queue rows
    and webhooks in one transaction, so that a crash in between repeats the bookkeeping, never the
    sending (the status check above)."""

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
        if server_changes:
            runtime.servers.forget(server_id)
        if webhook_ids:
            runtime.require_publisher().publish_webhook_requests(webhook_ids)
        return [row.id for row, _, _ in items]


def _with_tag(msg: Any, tag: str) -> Any:
    values = dict(msg._mapping)
    values["tag"] = tag
    return Message(**values)


def return_path(
    runtime: Runtime, server: Server, domain: Domain, bounce: bool, message_token: str | None = None
) -> str:
    """MAIL FROM: empty for bounces; `<server token>+<message token>@psrp.<domain>` when its CNAME
    checks out, else at the return path domain. Postal's local part is the server token alone;
    the message token (VERP) links a bounce that quotes none of the original to its message."""
    if bounce:
        return ""
    dns_config = runtime.config.dns
    local = f"{server.token}+{message_token}" if message_token else server.token
    if domain.return_path_status == DNSStatus.OK:
        return f"{local}@{dns_config.custom_return_path_prefix}.{domain.name}"
    return f"{local}@{dns_config.return_path_domain}"


def helo_hostname(runtime: Runtime) -> str:
    config = runtime.config
    return config.dns.helo_hostname or config.postal.smtp_hostname or "localhost"


def sender_pool(runtime: Runtime) -> SenderPool:
    """The process's SMTP sessions by (destination domain, source address), made on first use."""
    if runtime.senders is None:
        with _pool_lock:
            if runtime.senders is None:
                config = runtime.config

                def factory(key: object) -> SMTPSender:
                    assert isinstance(key, tuple)
                    destination: str = key[0]
                    address: SourceAddress | None = key[1]
                    return SMTPSender(
                        domain=str(destination),
                        resolver=runtime.resolver,
                        # The chosen address's own name, as the receiving side sees it connect.
                        helo_hostname=address.hostname if address else helo_hostname(runtime),
                        destination_port=config.smtp_client.destination_port,
                        relays=config.smtp_relays,
                        open_timeout=config.smtp_client.open_timeout,
                        read_timeout=config.smtp_client.read_timeout,
                        source_ipv4=address.ipv4 if address else None,
                        source_ipv6=address.ipv6 if address else None,
                    )

                # Without batching every message gets a connection of its own, as in Postal.
                idle = 30.0 if config.postal.batch_queued_messages else 0.0
                runtime.senders = SenderPool(
                    factory, max_per_destination=config.worker.max_connections_per_destination, idle_timeout=idle
                )
    return runtime.senders
