"""Forwarding incoming mail to a route's endpoint (reference §4.3): POSTed to an HTTP endpoint
(signed like a webhook), relayed to an SMTP endpoint, or sent on to an address endpoint's MX."""

from __future__ import annotations

from typing import Any

from core.http_client import HTTPResult, post_json
from core.mail.address import domain_of
from core.mail.http_payload import EndpointOptions, IncomingMail, request_body
from core.mail.mx import MailHost
from core.mail.smtp_client import SendResult, SMTPSender
from core.outgoing.sessions import helo_hostname, sender_pool
from core.queue.outcome import BatchContext, send_result
from core.signing import signing_key
from core.version import __version__
from models.endpoint import AddressEndpoint, HTTPEndpoint, SMTPEndpoint
from models.enums import MessageStatus

# The start of an HTTP endpoint's reply kept as the delivery's output.
MAX_ENDPOINT_OUTPUT = 500


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


def to_http(context: BatchContext, msg: Any, raw: bytes, endpoint: HTTPEndpoint, changes: dict[str, Any]) -> SendResult:
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
        return send_result(MessageStatus.SENT, details, output=output, secure=url.startswith("https:"))
    if result.status >= 500 or result.status < 0:
        return send_result(MessageStatus.SOFT_FAIL, details, output=output, retry=True, connect_error=result.status < 0)
    if result.status == 429:
        return send_result(MessageStatus.HARD_FAIL, details, output=output, suppress_bounce=True)
    return send_result(MessageStatus.HARD_FAIL, details, output=output)


def to_smtp(context: BatchContext, msg: Any, raw: bytes, endpoint: SMTPEndpoint) -> SendResult:
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


def to_address(context: BatchContext, msg: Any, raw: bytes, endpoint: AddressEndpoint) -> SendResult:
    """An address endpoint: to the MX of the address's domain, with the address as recipient."""
    with sender_pool(context.runtime).session((domain_of(endpoint.address), None)) as sender:
        return sender.send(msg.mail_from or "", endpoint.address, raw)
