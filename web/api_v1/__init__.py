"""Postal's HTTP API v1 (reference §6): `/api/v1/<controller>/<action>`."""

from __future__ import annotations

import falcon

from core.runtime import Runtime
from web.api_v1 import messages, send
from web.api_v1.action import Action
from web.api_v1.dispatcher import Dispatcher
from web.api_v1.idempotency import IdempotencyKeys

ACTIONS: dict[tuple[str, str], Action] = {
    ("send", "message"): send.SEND_MESSAGE,
    ("send", "raw"): send.SEND_RAW,
    ("messages", "message"): messages.MESSAGE,
    ("messages", "deliveries"): messages.DELIVERIES,
}


def register(app: falcon.App, runtime: Runtime) -> None:
    """Add the v1 routes to `app`: one sink for every method and action."""
    dispatcher = Dispatcher(runtime, ACTIONS, IdempotencyKeys(runtime.db, runtime.clock))
    app.add_sink(dispatcher, r"/api/v1(?:/|$)")
