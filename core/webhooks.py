"""Webhooks (reference §7): subscriptions, the requests an event creates, and their delivery.

An event creates one `webhook_requests` row per subscribed webhook, in the same transaction as
the change that caused it; the row's job is published after the commit. The `webhooks` actor
POSTs `{event, timestamp, payload, uuid}` signed with the installation key, keeps every attempt
in the server's history, and retries failures with exponential back-off for
`webhooks.retry_window_hours` (Postal gives up after 36 minutes).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from core.config import Config
from core.db import run_transaction
from core.errors import NotFound, ValidationError
from core.runtime import Runtime
from core.server_cache import ServerState
from core.signing import signing_key
from core.version import __version__
from models.base import new_uuid, table, utcnow
from models.message.webhook_request import WebhookRequestHistory
from models.server import Server
from models.webhook import Webhook, WebhookEvent, WebhookRequest

log = logging.getLogger(__name__)

EVENTS = (
    "MessageSent",
    "MessageDelayed",
    "MessageDeliveryFailed",
    "MessageHeld",
    "MessageBounced",
    "MessageLinkClicked",
    "MessageLoaded",
    "DomainDNSError",
)
# Only sent to webhooks subscribed to all events (reference §7).
ALL_EVENTS_ONLY = ("SendLimitApproaching", "SendLimitExceeded")
# Which delivery status fires which event.
STATUS_EVENTS = {
    "Sent": "MessageSent",
    "SoftFail": "MessageDelayed",
    "HardFail": "MessageDeliveryFailed",
    "Held": "MessageHeld",
}
MAX_OUTPUT = 512
MAX_RESPONSE_BODY = 2000

REQUESTS = table(WebhookRequest)
HISTORY = table(WebhookRequestHistory)
INSERT_REQUEST = insert(REQUESTS).returning(REQUESTS.c.id, sort_by_parameter_order=True)
CLAIM = (
    update(REQUESTS)
    .where(REQUESTS.c.id == bindparam("b_id"), REQUESTS.c.locked_by.is_(None))
    .values(locked_by=bindparam("b_locker"), locked_at=bindparam("b_now"))
)
LOAD = select(REQUESTS).where(REQUESTS.c.id == bindparam("b_id"))


# -- subscriptions ----------------------------------------------------------------------------


def _valid_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("url", f"must be an http:// or https:// URL, not {url!r}")
    return url


def _valid_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValidationError("event", f"{', '.join(unknown)} is not one of {', '.join(EVENTS)}")
    return list(dict.fromkeys(events))


def _subscribe(session: Session, webhook: Webhook, events: list[str]) -> None:
    """Subscribe the webhook to `events` only (to every event when the list is empty)."""
    for row in session.scalars(select(WebhookEvent).where(WebhookEvent.webhook_id == webhook.id)):
        session.delete(row)
    session.flush()
    webhook.all_events = not events
    for event in events:
        session.add(WebhookEvent(webhook_id=webhook.id, event=event))
    session.flush()


def create_webhook(
    session: Session, server: Server, url: str, name: str | None = None, events: Sequence[str] | None = None
) -> Webhook:
    """A webhook for `events` (all events when none are named)."""
    url = _valid_url(url)
    chosen = _valid_events(events or ())
    name = (name or urlsplit(url).hostname or "").strip()
    webhook = Webhook(server_id=server.id, name=name, url=url, all_events=not chosen, enabled=True, sign=True)
    session.add(webhook)
    session.flush()
    _subscribe(session, webhook, chosen)
    return webhook


def webhook_events(session: Session, webhook: Webhook) -> list[str]:
    """The events the webhook was subscribed to by name (empty when it wants all events)."""
    return list(
        session.scalars(
            select(WebhookEvent.event).where(WebhookEvent.webhook_id == webhook.id).order_by(WebhookEvent.id)
        )
    )


def update_webhook(
    session: Session,
    webhook: Webhook,
    url: str | None = None,
    name: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> Webhook:
    """Change what is given, with the rules of `create_webhook`; `events=[]` means all events."""
    if url is not None:
        webhook.url = _valid_url(url)
    if name is not None:
        if not name.strip():
            raise ValidationError("name", "can't be blank")
        webhook.name = name.strip()
    if events is not None:
        _subscribe(session, webhook, _valid_events(events))
    if enabled is not None:
        webhook.enabled = enabled
    session.flush()
    return webhook


def delete_webhook(session: Session, webhook: Webhook) -> None:
    """Remove the webhook; its requests still waiting go with it, its history stays."""
    session.delete(webhook)
    session.flush()


# -- payloads ---------------------------------------------------------------------------------


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
        targets = [w for w in state.webhooks if (w.all_events if event in ALL_EVENTS_ONLY else w.wants(event))]
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


# -- delivery ---------------------------------------------------------------------------------


@dataclass
class HTTPResult:
    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> HTTPResult:
    """POST and return the status and the start of the body; a network failure is status -1
    (timeout), -2 (connection) or -3 (invalid certificate), as Postal reports them."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(MAX_RESPONSE_BODY * 4).decode("utf-8", "replace")[:MAX_RESPONSE_BODY]
        return HTTPResult(response.status, text)
    except TimeoutError:
        return HTTPResult(-1, f"Timed out after {timeout:g}s")
    except ssl.SSLCertVerificationError as exc:
        return HTTPResult(-3, f"Invalid SSL certificate: {exc.verify_message or exc}")
    except (OSError, http.client.HTTPException) as exc:
        return HTTPResult(-2, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def next_retry(config: Config, attempts: int, created_at: datetime, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed attempts, or None to give up."""
    hooks = config.webhooks
    delay = min(hooks.retry_base_delay * hooks.retry_backoff_factor ** (attempts - 1), hooks.retry_max_delay)
    at = now + timedelta(seconds=delay)
    if at > created_at + timedelta(hours=hooks.retry_window_hours):
        return None
    return at


def claim_request(runtime: Runtime, request_id: int, locker: str) -> Any:
    def work(conn: Connection) -> Any:
        if conn.execute(CLAIM, {"b_id": request_id, "b_locker": locker, "b_now": runtime.clock()}).rowcount != 1:
            return None
        return conn.execute(LOAD, {"b_id": request_id}).first()

    return run_transaction(runtime.db.engine, work)


def deliver_request(runtime: Runtime, request_id: int, locker: str) -> None:
    """The body of the `deliver_webhook_request` actor."""
    request = claim_request(runtime, request_id, locker)
    if request is None:
        return
    now = runtime.clock()
    if request.retry_after is not None and request.retry_after > now:
        run_transaction(
            runtime.db.engine,
            lambda conn: conn.execute(
                update(REQUESTS).where(REQUESTS.c.id == request.id).values(locked_by=None, locked_at=None)
            ),
        )
        return
    created = request.created_at
    body = json.dumps(
        {
            "event": request.event,
            "timestamp": created.replace(tzinfo=UTC).timestamp(),
            "payload": json.loads(request.payload),
            "uuid": request.uuid,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Postal/{__version__}",
        **signing_key(runtime.config.signing_key_path).headers(body),
    }
    result = post_json(request.url, body, headers, runtime.config.webhooks.timeout)
    attempt = request.attempts + 1
    retry_at = None if result.ok else next_retry(runtime.config, attempt, created, runtime.clock())
    _record(runtime, request, attempt, result, retry_at)


def _record(runtime: Runtime, request: Any, attempt: int, result: HTTPResult, retry_at: datetime | None) -> None:
    mdb = runtime.message_dbs.get(request.server_id)
    with mdb.transaction() as conn:
        conn.execute(
            insert(HISTORY).values(
                uuid=request.uuid,
                event=request.event,
                attempt=attempt,
                timestamp=time.time(),
                status_code=result.status,
                body=result.body,
                payload=request.payload,
                will_retry=retry_at is not None,
                url=request.url,
                webhook_id=request.webhook_id,
            )
        )

    def work(conn: Connection) -> None:
        if result.ok or retry_at is None:
            conn.execute(delete(REQUESTS).where(REQUESTS.c.id == request.id))
        else:
            conn.execute(
                update(REQUESTS)
                .where(REQUESTS.c.id == request.id)
                .values(
                    attempts=attempt,
                    retry_after=retry_at,
                    error=f"Couldn't send to URL. Code received was {result.status}",
                    locked_by=None,
                    locked_at=None,
                    published_at=None,
                )
            )
        if result.ok and request.webhook_id is not None:
            webhooks = table(Webhook)
            conn.execute(update(webhooks).where(webhooks.c.id == request.webhook_id).values(last_used_at=utcnow()))

    run_transaction(runtime.db.engine, work)
    if not result.ok:
        log.info(
            "webhook %s to %s: status %s (attempt %d%s)",
            request.event,
            request.url,
            result.status,
            attempt,
            ", will retry" if retry_at else ", giving up",
        )


# -- history ----------------------------------------------------------------------------------


def history(runtime: Runtime, server_id: int, webhook_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Attempts, newest first."""
    mdb = runtime.message_dbs.get(server_id)
    query = select(HISTORY).order_by(HISTORY.c.timestamp.desc(), HISTORY.c.id.desc()).limit(limit)
    if webhook_id is not None:
        query = query.where(HISTORY.c.webhook_id == webhook_id)
    with mdb.reader.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [_attempt(row) for row in rows]


def _attempt(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "uuid": row["uuid"],
        "event": row["event"],
        "attempt": row["attempt"],
        "timestamp": float(row["timestamp"]),
        "status_code": row["status_code"],
        "body": row["body"],
        "payload": json.loads(row["payload"]) if row["payload"] else None,
        "will_retry": bool(row["will_retry"]),
        "url": row["url"],
        "webhook_id": row["webhook_id"],
    }


def history_before(
    runtime: Runtime, server_id: int, webhook_id: int, before_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Attempts of one webhook, newest (highest id) first, below `before_id` when given: pages."""
    query = select(HISTORY).where(HISTORY.c.webhook_id == webhook_id).order_by(HISTORY.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(HISTORY.c.id < before_id)
    with runtime.message_dbs.get(server_id).reader.connect() as conn:
        return [_attempt(row) for row in conn.execute(query).mappings()]


def history_attempt(runtime: Runtime, server_id: int, webhook_id: int, attempt_id: int) -> dict[str, Any]:
    """One attempt of the webhook's history."""
    query = select(HISTORY).where(HISTORY.c.id == attempt_id, HISTORY.c.webhook_id == webhook_id)
    with runtime.message_dbs.get(server_id).reader.connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound("webhook request", attempt_id)
    return _attempt(row)


def resend(runtime: Runtime, server_id: int, request_uuid: str) -> int:
    """Send a request again now: its pending row if it is still retrying, else a new row with the
    same uuid and payload (consumers can use the uuid to recognise a repeat). Returns its id."""
    mdb = runtime.message_dbs.get(server_id)
    with mdb.reader.connect() as conn:
        last = conn.execute(
            select(HISTORY).where(HISTORY.c.uuid == request_uuid).order_by(HISTORY.c.id.desc()).limit(1)
        ).first()
    now = runtime.clock()
    # Without a publisher (the CLI beside an embedded installation) the requeuer publishes it.
    published = now if runtime.publisher is not None else None

    def work(conn: Connection) -> int:
        pending = conn.execute(
            select(REQUESTS.c.id).where(REQUESTS.c.uuid == request_uuid, REQUESTS.c.server_id == server_id)
        ).scalar()
        if pending is not None:
            conn.execute(
                update(REQUESTS)
                .where(REQUESTS.c.id == pending, REQUESTS.c.locked_by.is_(None))
                .values(retry_after=None, published_at=published)
            )
            return int(pending)
        if last is None:
            raise NotFound("webhook request", request_uuid)
        row = {
            "server_id": server_id,
            "webhook_id": last.webhook_id,
            "url": last.url,
            "event": last.event,
            "uuid": last.uuid,
            "payload": last.payload,
            "attempts": 0,
            "created_at": now,
            "published_at": published,
        }
        return int(conn.execute(INSERT_REQUEST, [row]).all()[0][0])

    request_id = run_transaction(runtime.db.engine, work)
    if runtime.publisher is not None:
        runtime.publisher.publish_webhook_requests([request_id])
    return request_id
