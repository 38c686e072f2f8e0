"""Webhook requests (reference §7): their delivery, retries and the history of every attempt.

An event creates one `webhook_requests` row per subscribed webhook, in the same transaction as
the change that caused it; the row's job is published after the commit. The `webhooks` actor
POSTs `{event, timestamp, payload, uuid}` signed with the installation key, keeps every attempt
in the server's history, and retries failures with exponential back-off for
`webhooks.retry_window_hours` (Postal gives up after 36 minutes).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from core.config import Config
from core.db import run_transaction
from core.errors import NotFound
from core.http_client import HTTPResult, post_json
from core.runtime import Runtime
from core.signing import signing_key
from core.version import __version__
from models.base import table, utcnow
from models.message.webhook_request import WebhookRequestHistory
from models.webhook import Webhook, WebhookRequest

log = logging.getLogger(__name__)

REQUESTS = table(WebhookRequest)
HISTORY = table(WebhookRequestHistory)
INSERT_REQUEST = insert(REQUESTS).returning(REQUESTS.c.id, sort_by_parameter_order=True)
CLAIM = (
    update(REQUESTS)
    .where(REQUESTS.c.id == bindparam("b_id"), REQUESTS.c.locked_by.is_(None))
    .values(locked_by=bindparam("b_locker"), locked_at=bindparam("b_now"))
)
LOAD = select(REQUESTS).where(REQUESTS.c.id == bindparam("b_id"))


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
