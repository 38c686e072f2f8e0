"""Accepting mail for delivery: one function shared by the SMTP server and the HTTP API.

`submit_outgoing_many` takes the submissions of several concurrent sessions at once and writes them with
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
from dataclasses import dataclass
from datetime import datetime
from email.message import Message as EmailMessage
from email.utils import formatdate, parseaddr

from core.broker import QUEUE_OUTGOING
from core.caches import ServerState
from core.errors import ValidationError
from core.mail.address import domain_of, is_plausible, strip_tag
from core.mail.compose import Composition, compose
from core.mail.headers import addresses, decode_value, message_id, parse_headers, split_raw
from core.messages.raw_store import store_raw_messages
from core.messages.stats import increment_stats
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
from core.tenancy.ip_pools import allocate
from core.tokens import message_token
from models.domain import Domain
from models.enums import MessageScope

log = logging.getLogger(__name__)


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


_random = random.Random()


def _domain_for(state: ServerState, address: str) -> Domain | None:
    domain = state.verified_domain(domain_of(strip_tag(address)))
    return domain if domain is not None else state.any_domain


def authenticated_domain(
    state: ServerState, headers: EmailMessage, from_addresses: list[str] | None = None
) -> Domain | None:
    """The verified domain that authorises the From (or, with allow_sender, the Sender) header.

    Every address in the header must be authorised; the first one's domain is returned
    (reference §3.1: the server's own domains win over the organization's). `from_addresses`:
    the From header's addresses when the caller has them already.
    """
    names = ["From"] + (["Sender"] if state.server.allow_sender else [])
    for name in names:
        found = from_addresses if name == "From" and from_addresses is not None else addresses(headers, name)
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
        from_addresses = addresses(headers, "From")
        domain = authenticated_domain(state, headers, from_addresses)
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
                from_addresses=from_addresses,
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
            forget_messages(runtime, server_id, created)
            for item in prepared:
                results[item.index] = TemporaryFailure()
            continue
        publish_queued(runtime, queued)
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
        forget_messages(runtime, state.server.id, created)
        raise
    publish_queued(runtime, queued)
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
        count_messages(conn, outgoing=len(created))
    return [(qid, str(row["queue"])) for qid, row in zip(ids, rows, strict=True)]


@dataclass(frozen=True)
class TestMessage:
    """A test message an operator writes in the web UI: one sender, one recipient, the bodies."""

    from_: str
    to: str
    subject: str | None = None
    plain_body: str | None = None
    html_body: str | None = None


def compose_test_message(runtime: Runtime, message: TestMessage) -> tuple[str, str, bytes]:
    """(envelope sender, envelope recipient, raw message) of a test message, composed as the HTTP
    API composes `send/message`; a field that cannot be used raises ValidationError naming it."""
    from_address = parseaddr(message.from_)[1]
    to_address = parseaddr(message.to)[1]
    if not is_plausible(from_address):
        raise ValidationError("from", "must be an e-mail address")
    if not is_plausible(to_address):
        raise ValidationError("to", "must be an e-mail address")
    if not (message.plain_body or "").strip() and not (message.html_body or "").strip():
        raise ValidationError("plain_body", "or the HTML body must have some content")
    composition = Composition(
        from_=message.from_,
        to=[message.to],
        subject=message.subject,
        plain_body=message.plain_body,
        html_body=message.html_body,
    )
    received = f"by {runtime.config.postal.web_hostname} with HTTP; {formatdate()}"
    raw = compose(composition, message_id=f"{uuid.uuid4()}@{runtime.config.dns.return_path_domain}", received=received)
    return from_address, to_address, raw


def submit_test_message(runtime: Runtime, server_id: int, message: TestMessage) -> Accepted:
    """Send a test message out through the submission every outgoing message takes (the HTTP API's)."""
    mail_from, rcpt_to, raw = compose_test_message(runtime, message)
    try:
        return submit(runtime, Submission(server_id=server_id, mail_from=mail_from, rcpt_to=[rcpt_to], raw=raw))
    except UnauthenticatedFrom:
        raise ValidationError(
            "from", "is not authorised to send mail from this server (use an address at one of its verified domains)"
        ) from None
