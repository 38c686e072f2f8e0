"""Recording opens and clicks of tracked messages (reference §3.5) and firing `MessageLoaded` /
`MessageLinkClicked` (§7): what the web process does for each tracking request.

A tracking request costs a cached server look-up, one message-database transaction of a few
statements, and a main-database transaction only when a webhook wants the event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import insert, select, update

from core.caches import ServerState
from core.db import run_transaction
from core.runtime import Runtime
from core.webhooks.events import message_payload, queue_event
from models.base import table
from models.message.link import Click, Link, Load
from models.message.message import Message

MESSAGES = table(Message)
LINKS = table(Link)
LOADS = table(Load)
CLICKS = table(Click)
# The columns are VARCHAR(255) and VARCHAR(45).
MAX_USER_AGENT = 255
MAX_IP_ADDRESS = 45


@dataclass(frozen=True)
class Visitor:
    """Who opened or clicked: the client address and the User-Agent header."""

    ip_address: str
    user_agent: str | None


def server_for_token(runtime: Runtime, token: str) -> ServerState | None:
    """The live server whose token is in the tracking URL, or None."""
    server_id = runtime.server_tokens.get(token)
    return runtime.servers.get(server_id) if server_id is not None else None


def record_load(runtime: Runtime, state: ServerState, message_token: str, visitor: Visitor) -> bool:
    """An open of the message: a `loads` row, `loaded` set by the first one, and `MessageLoaded`
    with Postal's payload `{message, ip_address, user_agent}`. False when there is no such
    message (retention removed it: the image is still served, as Postal does)."""
    now = time.time()
    with runtime.message_dbs.get(state.server.id).transaction() as conn:
        message = conn.execute(select(MESSAGES).where(MESSAGES.c.token == message_token).limit(1)).first()
        if message is None:
            return False
        if message.loaded is None:
            conn.execute(
                update(MESSAGES).where(MESSAGES.c.id == message.id, MESSAGES.c.loaded.is_(None)).values(loaded=now)
            )
        conn.execute(insert(LOADS).values(message_id=message.id, timestamp=now, **_columns(visitor)))
    payload = {"message": message_payload(message), "ip_address": visitor.ip_address, "user_agent": visitor.user_agent}
    _fire(runtime, state, "MessageLoaded", payload)
    return True


def record_click(runtime: Runtime, state: ServerState, link_token: str, visitor: Visitor) -> str | None:
    """A click on a tracked link: a `clicks` row, `clicked` set to now, and `MessageLinkClicked`
    with Postal's payload `{message, url, token, ip_address, user_agent}`. The stored URL to send
    the visitor to, or None when the server has no such link (never a URL from the request)."""
    now = time.time()
    with runtime.message_dbs.get(state.server.id).transaction() as conn:
        link = conn.execute(select(LINKS).where(LINKS.c.token == link_token).limit(1)).first()
        if link is None:
            return None
        message = conn.execute(select(MESSAGES).where(MESSAGES.c.id == link.message_id)).first()
        conn.execute(update(MESSAGES).where(MESSAGES.c.id == link.message_id).values(clicked=now))
        conn.execute(
            insert(CLICKS).values(message_id=link.message_id, link_id=link.id, timestamp=now, **_columns(visitor))
        )
    # Postal fires nothing when the link's message is gone, and still redirects.
    if message is not None:
        payload = {
            "message": message_payload(message),
            "url": link.url,
            "token": link.token,
            "ip_address": visitor.ip_address,
            "user_agent": visitor.user_agent,
        }
        _fire(runtime, state, "MessageLinkClicked", payload)
    return str(link.url)


def _columns(visitor: Visitor) -> dict[str, Any]:
    agent = visitor.user_agent[:MAX_USER_AGENT] if visitor.user_agent is not None else None
    return {"ip_address": visitor.ip_address[:MAX_IP_ADDRESS], "user_agent": agent}


def _fire(runtime: Runtime, state: ServerState, event: str, payload: dict[str, Any]) -> None:
    """The event's webhook requests, created and then published after they commit (STYLE rule 7);
    nothing at all when no webhook of the server wants it."""
    if not state.webhooks_for(event):
        return
    ids = run_transaction(
        runtime.db.engine, partial(queue_event, state=state, event=event, payload=payload, now=runtime.clock())
    )
    if ids:
        runtime.require_publisher().publish_webhook_requests(ids)
