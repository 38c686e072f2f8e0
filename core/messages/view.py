"""A message as the HTTP API v1 `messages/message` and `messages/deliveries` present it (reference §6)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, select

from core.errors import NotFound
from core.mail.content import Attachment, MailContent
from core.mail.content import parse as parse_content
from core.mail.headers import decode_value, normalise_line_endings, split_raw
from core.messages.deliveries import deliveries_for
from core.messages.raw_store import load_raw_message
from models.base import table
from models.message.link import Click, Link, Load
from models.message.message import Message
from models.message.spam_check import SpamCheck
from models.queued_message import QueuedMessage

_HEADER_PARSER = BytesHeaderParser(policy=policy.default)

EXPANSIONS = (
    "status",
    "details",
    "inspection",
    "plain_body",
    "html_body",
    "attachments",
    "headers",
    "raw_message",
    "activity_entries",
)


def find_message(conn: Connection, ref: int | str) -> Message:
    """A message by numeric id, or by its token."""
    messages = table(Message)
    text = str(ref).strip()
    condition = messages.c.id == int(text) if text.isdigit() else messages.c.token == text
    row = conn.execute(select(messages).where(condition)).mappings().first()
    if row is None:
        raise NotFound("message", ref)
    return Message(**row)


class ParsedMessage:
    """The parts of a stored message the API shows, read as Postal reads them with the mail gem
    (`core.mail.content`); parsed once, on demand, never raising on a malformed message."""

    def __init__(self, raw: bytes | None) -> None:
        self.raw = raw

    @cached_property
    def content(self) -> MailContent:
        return parse_content(self.raw) if self.raw is not None else MailContent()

    @property
    def plain_body(self) -> str | None:
        return self.content.plain_body

    @property
    def html_body(self) -> str | None:
        return self.content.html_body

    def attachments(self, encode: Callable[[bytes], str]) -> list[dict[str, Any]]:
        return [
            {
                "filename": a.filename or "",
                "content_type": a.content_type,
                "data": encode(a.data),
                "size": len(a.data),
                "hash": hashlib.sha1(a.data, usedforsecurity=False).hexdigest(),
            }
            for a in self.content.attachments
        ]

    @property
    def headers(self) -> dict[str, list[str]]:
        """Every header of the message, decoded, by lower-case name (Postal's `headers`)."""
        if self.raw is None:
            return {}
        head = split_raw(normalise_line_endings(self.raw))[0]
        try:
            message = _HEADER_PARSER.parsebytes(head + b"\r\n\r\n")
        except Exception:  # the parser is lenient; an unreadable header block is shown as none
            return {}
        result: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            try:
                text = str(message.policy.header_fetch_parse(name, str(value)))
            except Exception:  # a header the structured parser rejects: plain RFC 2047 decoding
                text = decode_value(str(value)) or ""
            result.setdefault(name.lower(), []).append(text)
        return result


def ruby_base64(data: bytes) -> str:
    """Ruby's `Base64.encode64`, which Postal's v1 API uses: lines of 60 characters, each ending
    in a newline. Every base64 decoder reads it; byte for byte it is what Postal sends."""
    text = base64.b64encode(data).decode("ascii")
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def plain_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _iso_time(epoch: float) -> str:
    """A Ruby Time as Rails renders it in JSON: ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(value: float | None) -> float | None:
    return float(value) if value is not None else None


def message_data(
    conn: Connection, message: Message, expansions: Any = True, *, postal_encoding: bool = False
) -> dict[str, Any]:
    """`messages/message` data: `{id, token}` plus each requested expansion (True = all).

    `postal_encoding` renders binary data exactly as Postal's API does: base64 in Ruby's
    60-character lines, and a message whose raw data is gone as the empty message Postal shows.
    """
    if expansions is True:
        wanted = set(EXPANSIONS)
    elif isinstance(expansions, list | tuple | set):
        wanted = {e for e in expansions if isinstance(e, str)}
    else:
        wanted = set()
    encode = ruby_base64 if postal_encoding else plain_base64
    data: dict[str, Any] = {"id": message.id, "token": message.token}
    if "status" in wanted:
        data["status"] = {
            "status": message.status,
            "last_delivery_attempt": _epoch(message.last_delivery_attempt),
            "held": bool(message.held),
            "hold_expiry": _epoch(message.hold_expiry),
        }
    if "details" in wanted:
        data["details"] = {
            "rcpt_to": message.rcpt_to,
            "mail_from": message.mail_from,
            "subject": message.subject,
            "message_id": message.message_id,
            "timestamp": float(message.timestamp),
            "direction": message.scope,
            # Postal's column is a VARCHAR, so its API has always sent the size as a string.
            "size": str(message.size) if message.size is not None else None,
            "bounce": bool(message.bounce),
            # Postal's column defaults to 0, and clients test it that way.
            "bounce_for_id": message.bounce_for_id or 0,
            "tag": message.tag,
            "received_with_ssl": message.received_with_ssl,
        }
    if "inspection" in wanted:
        data["inspection"] = {
            "inspected": bool(message.inspected),
            "spam": bool(message.spam),
            "spam_score": float(message.spam_score or 0),
            "threat": bool(message.threat),
            "threat_details": message.threat_details,
        }
    body_keys = {"plain_body", "html_body", "attachments", "headers", "raw_message"}
    if wanted & body_keys:
        raw = load_raw_message(conn, message.raw_table, message.raw_headers_id, message.raw_body_id)
        parsed = ParsedMessage(raw)
        if "plain_body" in wanted:
            data["plain_body"] = parsed.plain_body
        if "html_body" in wanted:
            data["html_body"] = parsed.html_body
        if "attachments" in wanted:
            data["attachments"] = parsed.attachments(encode)
        if "headers" in wanted:
            data["headers"] = parsed.headers
        if "raw_message" in wanted:
            if raw is None and postal_encoding:
                raw = b"\r\n\r\n"  # Postal joins the missing headers and body with the blank line
            data["raw_message"] = encode(raw) if raw is not None else None
    if "activity_entries" in wanted:
        data["activity_entries"] = activity_entries(conn, message.id)
    return data


def activity_entries(conn: Connection, message_id: int) -> dict[str, list[dict[str, Any]]]:
    """Opens and clicks, oldest first. Postal renders its Load/Click objects through Rails, so
    each is its attributes with the time as an ISO 8601 string."""
    load = table(Load)
    loads = conn.execute(
        select(load).where(load.c.message_id == message_id).order_by(load.c.timestamp, load.c.id)
    ).mappings()
    clicks = conn.execute(
        select(table(Click), table(Link).c.url)
        .join(table(Link), table(Link).c.id == table(Click).c.link_id)
        .where(table(Click).c.message_id == message_id)
        .order_by(table(Click).c.timestamp, table(Click).c.id)
    ).mappings()
    return {
        "loads": [
            {"ip_address": r["ip_address"], "user_agent": r["user_agent"], "timestamp": _iso_time(r["timestamp"])}
            for r in loads
        ],
        "clicks": [
            {
                "url": r["url"],
                "ip_address": r["ip_address"],
                "user_agent": r["user_agent"],
                "timestamp": _iso_time(r["timestamp"]),
            }
            for r in clicks
        ],
    }


def deliveries_data(conn: Connection, message_id: int) -> list[dict[str, Any]]:
    """`messages/deliveries` data, oldest first."""
    return [
        {
            "id": d.id,
            "status": d.status,
            "details": d.details,
            "output": d.output.strip() if d.output else d.output,
            "sent_with_ssl": bool(d.sent_with_ssl),
            "log_id": d.log_id,
            "time": float(d.time) if d.time is not None else None,
            "timestamp": float(d.timestamp),
        }
        for d in deliveries_for(conn, message_id)
    ]


def queue_data(row: QueuedMessage | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "attempts": row.attempts,
        "retry_after": row.retry_after.replace(tzinfo=UTC).timestamp() if row.retry_after else None,
        "locked": row.locked_at is not None,
    }


def spam_checks(conn: Connection, message_id: int) -> list[dict[str, Any]]:
    """The rules that scored the message at inspection, highest score first."""
    checks = table(SpamCheck)
    rows = conn.execute(
        select(checks).where(checks.c.message_id == message_id).order_by(checks.c.score.desc(), checks.c.id)
    ).mappings()
    return [{"code": r["code"], "score": float(r["score"] or 0), "description": r["description"]} for r in rows]


# The open-tracking image the tracking rewrite adds (reference §3.5): its hidden paragraph, and
# the image itself wherever it is, `<base>/img/<server token>/<message token>`.
_TRACKING_PARAGRAPH = re.compile(r"<p\s+class=(['\"])ampimg\1[^>]*>.*?</p>", re.IGNORECASE | re.DOTALL)
_TRACKING_IMAGE = re.compile(
    r"<img\b[^>]*\bsrc\s*=\s*(['\"])[^'\"]*/img/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+\1[^>]*>", re.IGNORECASE
)


def without_tracking_image(html: str) -> str:
    """The HTML body as the recipient wrote it to be seen: viewing it must not count as an open."""
    return _TRACKING_IMAGE.sub("", _TRACKING_PARAGRAPH.sub("", html))


def attachment(conn: Connection, message: Message, index: int) -> Attachment | None:
    """The message's attachment at `index` (0-based, in `attachments` order), with its data."""
    raw = load_raw_message(conn, message.raw_table, message.raw_headers_id, message.raw_body_id)
    found = ParsedMessage(raw).content.attachments
    return found[index] if 0 <= index < len(found) else None
