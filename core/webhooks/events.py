"""Webhook events (reference §7): Postal's payloads, and the requests an event creates for every
webhook that wants it, in the transaction of the change that caused it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.caches import ServerState
from core.webhooks.requests import INSERT_REQUEST
from models.base import new_uuid

# Which delivery status fires which event.
STATUS_EVENTS = {
    "Sent": "MessageSent",
    "SoftFail": "MessageDelayed",
    "HardFail": "MessageDeliveryFailed",
    "Held": "MessageHeld",
}


MAX_OUTPUT = 512


def _scrub(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text.encode("utf-8", "replace").decode("utf-8", "replace")[:limit]


def message_payload(message: Any) -> dict[str, Any]:
    """A message as webhooks describe it."""
    return {
        "id": message.id,
        "token": message.token,
        "direction": message.scope,
        "message_id": message.message_id,
        "to": message.rcpt_to,
        "from": message.mail_from,
        "subject": message.subject,
        "timestamp": float(message.timestamp),
        "spam_status": ("Spam" if message.spam else "NotSpam") if message.inspected else "NotChecked",
        "tag": message.tag,
    }


def delivery_payload(
    message: Any,
    status: str,
    details: str,
    output: str | None,
    sent_with_ssl: bool,
    timestamp: float,
    took: float | None,
) -> dict[str, Any]:
    return {
        "message": message_payload(message),
        "status": status,
        "details": details,
        "output": _scrub(output, MAX_OUTPUT) or "",
        "sent_with_ssl": bool(sent_with_ssl),
        "timestamp": timestamp,
        "time": took,
    }


def queue_events(
    conn: Connection, state: ServerState, events: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> list[int]:
    """Create the requests of each `(event, payload)` for every webhook that wants it, in one
    statement inside the caller's transaction (main database); returns their ids, to publish once
    it commits."""
    rows = []
    for event, payload in events:
        targets = state.webhooks_for(event)
        body = json.dumps(payload) if targets else ""
        rows += [
            {
                "server_id": state.server.id,
                "webhook_id": target.id,
                "url": target.url,
                "event": event,
                "uuid": new_uuid(),
                "payload": body,
                "attempts": 0,
                "created_at": now,
                "published_at": now,
            }
            for target in targets
        ]
    if not rows:
        return []
    return [int(r[0]) for r in conn.execute(INSERT_REQUEST, rows).all()]


def queue_event(conn: Connection, state: ServerState, event: str, payload: dict[str, Any], now: datetime) -> list[int]:
    return queue_events(conn, state, [(event, payload)], now)
