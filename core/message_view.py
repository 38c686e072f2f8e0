"""A message as the HTTP API v1 `messages/message` and `messages/deliveries` present it (reference §6)."""

from __future__ import annotations

import base64
import email
import hashlib
from datetime import UTC
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from sqlalchemy import Connection, select

from core.deliveries import deliveries_for
from core.errors import NotFound
from core.raw_store import load_raw_message
from models.base import table
from models.message.link import Click, Link, Load
from models.message.message import Message
from models.queued_message import QueuedMessage

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
    """The MIME structure of a stored message, parsed once on demand."""

    def __init__(self, raw: bytes | None) -> None:
        self.raw = raw
        self.mime: EmailMessage | None = (
            email.message_from_bytes(raw, policy=default_policy) if raw is not None else None
        )

    def _first_text(self, subtype: str) -> str | None:
        if self.mime is None:
            return None
        for part in self.mime.walk():
            if part.is_multipart() or part.get_content_type() != f"text/{subtype}":
                continue
            if part.get_content_disposition() == "attachment":
                continue
            try:
                return str(part.get_content())
            except (LookupError, UnicodeError):
                payload = part.get_payload(decode=True)
                return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
        return None

    @property
    def plain_body(self) -> str | None:
        return self._first_text("plain")

    @property
    def html_body(self) -> str | None:
        return self._first_text("html")

    @property
    def attachments(self) -> list[dict[str, Any]]:
        if self.mime is None:
            return []
        found = []
        for part in self.mime.walk():
            if part.is_multipart():
                continue
            filename = part.get_filename()
            if part.get_content_disposition() != "attachment" and not filename:
                continue
            data = part.get_payload(decode=True)
            data = data if isinstance(data, bytes) else b""
            found.append(
                {
                    "filename": filename or "",
                    "content_type": part.get_content_type(),
                    "data": base64.b64encode(data).decode(),
                    "size": len(data),
                    "hash": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                }
            )
        return found

    @property
    def headers(self) -> dict[str, list[str]]:
        if self.mime is None:
            return {}
        result: dict[str, list[str]] = {}
        for name, value in self.mime.items():
            result.setdefault(name.lower(), []).append(str(value))
        return result


def _epoch(value: float | None) -> float | None:
    return float(value) if value is not None else None


def message_data(conn: Connection, message: Message, expansions: Any = True) -> dict[str, Any]:
    """`messages/message` data: `{id, token}` plus each requested expansion (True = all)."""
    wanted = set(EXPANSIONS) if expansions is True else set(expansions or [])
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
            "size": message.size,
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
            data["attachments"] = parsed.attachments
        if "headers" in wanted:
            data["headers"] = parsed.headers
        if "raw_message" in wanted:
            data["raw_message"] = base64.b64encode(raw).decode() if raw is not None else None
    if "activity_entries" in wanted:
        data["activity_entries"] = activity_entries(conn, message.id)
    return data


def activity_entries(conn: Connection, message_id: int) -> dict[str, list[dict[str, Any]]]:
    loads = conn.execute(
        select(table(Load)).where(table(Load).c.message_id == message_id).order_by(table(Load).c.id)
    ).mappings()
    clicks = conn.execute(
        select(table(Click), table(Link).c.url)
        .join(table(Link), table(Link).c.id == table(Click).c.link_id)
        .where(table(Click).c.message_id == message_id)
        .order_by(table(Click).c.id)
    ).mappings()
    return {
        "loads": [
            {"ip_address": r["ip_address"], "user_agent": r["user_agent"], "timestamp": float(r["timestamp"])}
            for r in loads
        ],
        "clicks": [
            {
                "url": r["url"],
                "ip_address": r["ip_address"],
                "user_agent": r["user_agent"],
                "timestamp": float(r["timestamp"]),
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
