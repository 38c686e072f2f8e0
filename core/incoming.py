"""Processing queued incoming mail: Postal's steps of reference §4.2 in order, the endpoints of
§4.3 (HTTP, SMTP, address), bounce linking (§4.4) and spam and virus inspection (§4.5).

The functions here decide an `Outcome` for one message; `core.delivery` loads the messages of a
job, calls `process_incoming` for each incoming one and records the outcomes together.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core import inspection
from core.deliveries import NewDelivery
from core.delivery import DEVELOPMENT_MODE, BatchContext, Outcome, _result, helo_hostname, sender_pool
from core.mail import dsn
from core.mail.address import domain_of, strip_tag
from core.mail.bounce_message import build_bounce
from core.mail.headers import split_raw
from core.mail.http_payload import EndpointOptions, IncomingMail, request_body
from core.mail.mx import MailHost
from core.mail.smtp_client import SendResult, SMTPSender
from core.routes import load_endpoint
from core.signing import signing_key
from core.submission import submit_bounce
from core.version import __version__
from core.webhooks import HTTPResult, message_payload, post_json
from models.base import table
from models.endpoint import AddressEndpoint, HTTPEndpoint, SMTPEndpoint
from models.enums import MessageScope, MessageStatus, RouteMode, ServerMode, SpamMode
from models.message.message import Message
from models.queued_message import QueuedMessage
from models.route import Route

log = logging.getLogger(__name__)

MESSAGES = table(Message)
ORIGINALS = select(MESSAGES).where(
    MESSAGES.c.token.in_(bindparam("b_tokens", expanding=True)),
    MESSAGES.c.scope == MessageScope.OUTGOING.value,
)
# The start of an HTTP endpoint's reply kept as the delivery's output.
MAX_ENDPOINT_OUTPUT = 500

UNLINKED_BOUNCE = (
    "This message was a bounce but we couldn't link it with any outgoing message and there was no route for it."
)
NO_ROUTE = "Message does not have a route and/or endpoint available for delivery."
QUARANTINED = "Message placed into quarantine."
SPAM_FAILED = "Message is spam and the route specifies it should be failed."
ACCEPTED_ONLY = "Message has been accepted but not sent to any endpoints."
PROCESSED = "Message has been processed."
INVALID_ENDPOINT = "Invalid endpoint for route."


def process_incoming(context: BatchContext, row: QueuedMessage, msg: Any, raw: bytes) -> Outcome:
    """Reference §4.2, steps 1-13."""
    server = context.state.server
    outcome = Outcome(_result(MessageStatus.PENDING, ""))

    def stop(status: MessageStatus, details: str, **kwargs: Any) -> Outcome:
        outcome.result = _result(status, details, **kwargs)
        return outcome

    # 1. A bounce of one of our messages.
    if msg.bounce:
        originals = _originals(context, msg, raw)
        if originals:
            return _link_bounce(context, msg, raw, originals, outcome)
        if msg.route_id is None:
            return stop(MessageStatus.HARD_FAIL, UNLINKED_BOUNCE)

    # 2. Live statistics.
    outcome.count_live = True
    outcome.live_kind = "incoming"

    # 3. Spam and virus inspection, once.
    spam, score = bool(msg.spam), float(msg.spam_score or 0.0)
    if not msg.inspected:
        spam, score, raw = _inspect(context, msg, raw, outcome)

    # 4. Over the failure threshold.
    if score >= float(server.spam_failure_threshold):
        return stop(
            MessageStatus.HARD_FAIL,
            "Message's spam score is higher than the failure threshold for this server. "
            f"Threshold is currently {float(server.spam_failure_threshold)}.",
        )

    # 5. Development mode.
    if server.mode == ServerMode.DEVELOPMENT and not row.manual:
        return stop(MessageStatus.HELD, DEVELOPMENT_MODE)

    # 6. A route to follow.
    route = _route(context, msg.route_id)
    if route is None:
        return stop(MessageStatus.HARD_FAIL, NO_ROUTE)

    # 7. Spam, as the route wants it.
    if spam and not row.manual:
        if route.spam_mode == SpamMode.QUARANTINE:
            return stop(MessageStatus.HELD, QUARANTINED)
        if route.spam_mode == SpamMode.FAIL:
            return stop(MessageStatus.HARD_FAIL, SPAM_FAILED)

    # 8-10. Modes that deliver nowhere.
    if route.mode == RouteMode.ACCEPT:
        return stop(MessageStatus.PROCESSED, ACCEPTED_ONLY)
    if route.mode == RouteMode.HOLD:
        if row.manual:
            return stop(MessageStatus.PROCESSED, PROCESSED)
        return stop(MessageStatus.HELD, ACCEPTED_ONLY)
    if route.mode in (RouteMode.BOUNCE, RouteMode.REJECT):
        bounce_id = _send_bounce(context, msg, raw, "The route for this address bounces every message.")
        if bounce_id is None:
            # Nobody to tell: the row goes, the message keeps its status (Postal's behaviour).
            outcome.record_delivery = False
            return stop(MessageStatus.HARD_FAIL, "")
        return stop(
            MessageStatus.HARD_FAIL,
            f"Message has been bounced because the route asks for this. See message <msg:{bounce_id}>",
        )

    # 11. The endpoint.
    endpoint = _endpoint(context, msg.endpoint_type, msg.endpoint_id)
    if isinstance(endpoint, HTTPEndpoint):
        outcome.result = _to_http(context, msg, raw, endpoint, outcome.message_changes)
    elif isinstance(endpoint, SMTPEndpoint):
        outcome.result = _to_smtp(context, msg, raw, endpoint)
    elif isinstance(endpoint, AddressEndpoint):
        outcome.result = _to_address(context, msg, raw, endpoint)
    else:
        return stop(MessageStatus.HARD_FAIL, INVALID_ENDPOINT)

    # 12. A permanent failure is reported to the sender.
    if outcome.result.status == MessageStatus.HARD_FAIL.value and not outcome.result.suppress_bounce:
        bounce_to_sender(context, msg, raw, outcome)

    # 13. Retried by the recorder if the result says so; else the endpoint has been used.
    if not outcome.result.retry:
        outcome.endpoint_used = (str(msg.endpoint_type), int(msg.endpoint_id))
    return outcome


def bounce_to_sender(context: BatchContext, msg: Any, raw: bytes, outcome: Outcome) -> None:
    """Reference §4.2 step 12 (and §3.2 step 6): tell the sender their message failed, unless it
    was itself a bounce or has no sender."""
    bounce_id = _send_bounce(context, msg, raw, outcome.result.details)
    if bounce_id is not None:
        outcome.extra_details.append(f"Sent bounce message to sender (see message <msg:{bounce_id}>)")


# -- routes and endpoints -------------------------------------------------------------------------


def _route(context: BatchContext, route_id: int | None) -> Route | None:
    if route_id is None:
        return None
    if route_id not in context.routes:
        with context.runtime.db.reader.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            route = session.get(Route, route_id)
            if route is not None:
                session.expunge(route)
            context.routes[route_id] = route
    return context.routes[route_id]


def _endpoint(context: BatchContext, kind: str | None, endpoint_id: int | None) -> Any:
    if kind is None or endpoint_id is None:
        return None
    key = (str(kind), int(endpoint_id))
    if key not in context.endpoints:
        with context.runtime.db.reader.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            endpoint = load_endpoint(session, kind, endpoint_id)
            if endpoint is not None and endpoint.server_id != context.state.server.id:
                endpoint = None
            if endpoint is not None:
                session.expunge(endpoint)
            context.endpoints[key] = endpoint
    return context.endpoints[key]


def _incoming_mail(msg: Any, raw: bytes, changes: dict[str, Any]) -> IncomingMail:
    """The message as endpoints see it, with the inspection just made (`changes`)."""
    inspected, spam = changes.get("inspected", msg.inspected), changes.get("spam", msg.spam)
    spam_status = ("Spam" if spam else "NotSpam") if inspected else "NotChecked"
    return IncomingMail(
        id=int(msg.id),
        token=str(msg.token),
        rcpt_to=msg.rcpt_to or "",
        mail_from=msg.mail_from or "",
        timestamp=float(msg.timestamp),
        size=len(raw),
        spam_status=spam_status,
        bounce=bool(msg.bounce),
        received_with_ssl=bool(msg.received_with_ssl),
        raw=raw,
    )


def _to_http(
    context: BatchContext, msg: Any, raw: bytes, endpoint: HTTPEndpoint, changes: dict[str, Any]
) -> SendResult:
    """Reference §4.3: POST the message, signed like a webhook."""
    options = EndpointOptions(
        format=endpoint.format,
        encoding=endpoint.encoding,
        strip_replies=endpoint.strip_replies,
        include_attachments=endpoint.include_attachments,
    )
    body, content_type = request_body(_incoming_mail(msg, raw, changes), options)
    headers = {
        "Content-Type": content_type,
        "User-Agent": f"Postal/{__version__}",
        **signing_key(context.runtime.config.signing_key_path).headers(body),
    }
    result: HTTPResult = post_json(endpoint.url, body, headers, float(endpoint.timeout))
    return http_result(endpoint.url, result)


def http_result(url: str, result: HTTPResult) -> SendResult:
    """The delivery an HTTP endpoint's reply makes (reference §4.3)."""
    details = f"Received a {result.status} from {url}"
    output = result.body[:MAX_ENDPOINT_OUTPUT]
    if result.ok:
        return _result(MessageStatus.SENT, details, output=output, secure=url.startswith("https:"))
    if result.status >= 500 or result.status < 0:
        return _result(MessageStatus.SOFT_FAIL, details, output=output, retry=True, connect_error=result.status < 0)
    if result.status == 429:
        return _result(MessageStatus.HARD_FAIL, details, output=output, suppress_bounce=True)
    return _result(MessageStatus.HARD_FAIL, details, output=output)


def _to_smtp(context: BatchContext, msg: Any, raw: bytes, endpoint: SMTPEndpoint) -> SendResult:
    """An SMTP endpoint: the host and port it names, its TLS mode, the original envelope. The
    session is kept for the other messages of the job going there."""
    sender = context.endpoint_senders.get(endpoint.id)
    if sender is None:
        config = context.runtime.config
        sender = SMTPSender(
            domain=endpoint.hostname,
            resolver=context.runtime.resolver,
            helo_hostname=helo_hostname(context.runtime),
            hosts=[MailHost(endpoint.hostname, endpoint.port, str(endpoint.ssl_mode))],
            open_timeout=config.smtp_client.open_timeout,
            read_timeout=config.smtp_client.read_timeout,
        )
        context.endpoint_senders[endpoint.id] = sender
    if not sender.connected:
        sender.start()
    return sender.send(msg.mail_from or "", msg.rcpt_to or "", raw)


def _to_address(context: BatchContext, msg: Any, raw: bytes, endpoint: AddressEndpoint) -> SendResult:
    """An address endpoint: to the MX of the address's domain, with the address as recipient."""
    with sender_pool(context.runtime).session((domain_of(endpoint.address), None)) as sender:
        return sender.send(msg.mail_from or "", endpoint.address, raw)


# -- inspection -----------------------------------------------------------------------------------


def _inspect(context: BatchContext, msg: Any, raw: bytes, outcome: Outcome) -> tuple[bool, float, bytes]:
    """Inspect once (reference §4.2 step 3): store the result and the checks, prepend the
    X-Postal-Spam headers. Without any inspector configured nothing is recorded: the message
    stays unchecked (`NotChecked`) rather than claim a verdict nobody made."""
    server = context.state.server
    result = inspection.inspect_message(
        context.runtime.config, raw, msg.mail_from or "", msg.rcpt_to or "", msg.token, outgoing=False
    )
    if result is None:
        return False, 0.0, raw
    outcome.message_changes["inspected"] = True
    threshold = float(server.spam_threshold)
    score = round(float(result.spam_score), 2)
    spam = score > threshold
    outcome.message_changes.update(
        spam=spam,
        spam_score=score,
        threat=result.threat,
        threat_details=(result.threat_message or "")[:255] or None,
    )
    outcome.spam_checks = [(c.code, float(c.score), c.description[:255] or None) for c in result.checks]
    added = (
        f"X-Postal-Spam: {'yes' if spam else 'no'}\r\n"
        f"X-Postal-Spam-Threshold: {threshold}\r\n"
        f"X-Postal-Spam-Score: {score}\r\n"
        f"X-Postal-Threat: {'yes' if result.threat else 'no'}\r\n"
    ).encode()
    header_block, body = split_raw(raw)
    outcome.stored_headers = added + header_block
    return spam, score, outcome.stored_headers + body


def inspect_outgoing(context: BatchContext, msg: Any, raw: bytes, outcome: Outcome) -> float | None:
    """Reference §3.3 step 6: the score of an outgoing message, stored with its checks; None when
    no inspector is configured."""
    result = inspection.inspect_message(
        context.runtime.config, raw, msg.mail_from or "", msg.rcpt_to or "", msg.token, outgoing=True
    )
    if result is None:
        return None
    outcome.message_changes["inspected"] = True
    score = round(float(result.spam_score), 2)
    outcome.message_changes.update(
        spam_score=score, threat=result.threat, threat_details=(result.threat_message or "")[:255] or None
    )
    outcome.spam_checks = [(c.code, float(c.score), c.description[:255] or None) for c in result.checks]
    return score


# -- bounces --------------------------------------------------------------------------------------


def _originals(context: BatchContext, msg: Any, raw: bytes) -> list[Any]:
    """The outgoing messages a bounce is about: every `X-Postal-MsgID` token quoted in it (as
    Postal), and the message token of the VERP return path it was sent to."""
    tokens = list(dict.fromkeys(dsn.postal_message_ids(raw)))
    local = (msg.rcpt_to or "").rsplit("@", 1)[0]
    if "+" in local:
        verp = local.split("+", 1)[1]
        if verp and verp not in tokens:
            tokens.append(verp)
    if not tokens:
        return []
    return list(context.conn.execute(ORIGINALS, {"b_tokens": tokens}).all())


def _link_bounce(context: BatchContext, msg: Any, raw: bytes, originals: list[Any], outcome: Outcome) -> Outcome:
    """Reference §4.2 step 1, and beyond Postal: the delivery status notification tells a hard
    bounce (the recipient goes on the suppression list) from a delay warning or a success report
    (linked, but the original is not marked bounced)."""
    report = dsn.parse(raw)
    first = originals[0]
    outcome.message_changes.update(bounce_for_id=first.id, domain_id=first.domain_id)
    outcome.result = _result(
        MessageStatus.PROCESSED, f"This has been detected as a bounce message for <msg:{first.id}>."
    )
    # A notification that reports no failure (a delay warning, a "relayed" success) is linked and
    # kept, but is not a bounce of the original.
    failed = report.is_bounce or not report.recipients
    if not failed:
        outcome.extra_details.append("It reports no failure, so the original is not marked as bounced.")
        return outcome
    bounce_view = dict(msg._mapping)
    bounce_view.update(outcome.message_changes)
    for original in originals:
        outcome.related_deliveries.append(
            NewDelivery(
                message_id=original.id,
                status=MessageStatus.BOUNCED,
                details=f"We've received a bounce message for this e-mail. See <msg:{msg.id}> for details.",
            )
        )
        outcome.events.append(
            (
                "MessageBounced",
                {"original_message": message_payload(original), "bounce": message_payload(Message(**bounce_view))},
            )
        )
        if _hard_for(report, original.rcpt_to or ""):
            outcome.suppress_addresses.append((original.rcpt_to, "hard bounce"))
    return outcome


def _hard_for(report: dsn.DSNReport, address: str) -> bool:
    """Whether the report says delivery to `address` failed permanently. A report naming other
    recipients only says nothing about this one; one naming nobody speaks for the message."""
    wanted = address.strip().lower()
    named = [r for r in report.recipients if r.final_recipient or r.original_recipient]
    mine = [r for r in named if wanted in (r.final_recipient, (r.original_recipient or "").lower())]
    if mine:
        return any(r.kind == "hard" for r in mine)
    if not named:
        return report.kind == "hard"
    return False


def _send_bounce(context: BatchContext, msg: Any, raw: bytes, reason: str | None) -> int | None:
    """Make and queue a bounce message to the sender of `msg` (reference §4.4); None when there is
    nobody to tell (no sender, or the message is itself a bounce)."""
    if msg.bounce or not msg.mail_from:
        return None
    runtime, state = context.runtime, context.state
    server = state.server
    domain = state.domains.get(msg.domain_id) if msg.domain_id is not None else None
    postmaster = (
        server.postmaster_address or f"postmaster@{domain.name if domain else runtime.config.postal.web_hostname}"
    )
    from_address = strip_tag(msg.rcpt_to or "") if msg.rcpt_to else postmaster
    bounce = build_bounce(
        raw,
        original_token=msg.token,
        server_token=server.token,
        original_message_id=msg.message_id,
        mail_from=msg.mail_from,
        rcpt_to=msg.rcpt_to or "",
        subject=msg.subject or "",
        from_address=from_address,
        postmaster_address=postmaster,
        reason=reason,
        message_id=f"{uuid.uuid4()}@{runtime.config.dns.return_path_domain}",
    )
    bounce_id, _ = submit_bounce(runtime, state, msg.domain_id, msg.mail_from, bounce, msg.id)
    return bounce_id
