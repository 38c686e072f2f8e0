"""The actor that delivers one webhook request: `deliver_webhook_request(request_id)`."""

from __future__ import annotations

import dramatiq
from sqlalchemy import select

from core import metrics
from core.broker import ACTOR_DELIVER_WEBHOOK_REQUEST, QUEUE_WEBHOOKS
from core.queue.queued_messages import locker_name
from core.runtime import Runtime
from core.webhooks.requests import deliver_request
from models.base import table
from models.webhook import WebhookRequest

TABLE = "webhook_requests"
REQUESTS = table(WebhookRequest)


def declare_webhooks(broker: dramatiq.Broker, runtime: Runtime) -> dramatiq.Actor:
    def attempts(request_id: int) -> int | None:
        with runtime.db.reader.connect() as conn:
            return conn.scalar(select(REQUESTS.c.attempts).where(REQUESTS.c.id == request_id))

    def run(request_id: int) -> None:
        if runtime.leases is not None:
            runtime.leases.hold(TABLE, request_id)
        try:
            before = attempts(request_id)
            deliver_request(runtime, request_id, locker_name())
            # A request still there with one attempt more failed and waits for its retry (a
            # delivered or abandoned one is gone).
            after = attempts(request_id) if before is not None else None
            if before is not None and after is not None and after > before:
                metrics.QUEUE_RETRIES.labels(queue=QUEUE_WEBHOOKS).inc()
        finally:
            if runtime.leases is not None:
                runtime.leases.release(TABLE, request_id)

    return dramatiq.Actor(
        run, broker=broker, actor_name=ACTOR_DELIVER_WEBHOOK_REQUEST, queue_name=QUEUE_WEBHOOKS, priority=0, options={}
    )
