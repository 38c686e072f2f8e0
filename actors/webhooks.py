"""The actor that delivers one webhook request: `deliver_webhook_request(request_id)`."""

from __future__ import annotations

import dramatiq

from core.broker import ACTOR_DELIVER_WEBHOOK_REQUEST, QUEUE_WEBHOOKS
from core.queue.queued_messages import locker_name
from core.runtime import Runtime
from core.webhooks.requests import deliver_request

TABLE = "webhook_requests"


def declare_webhooks(broker: dramatiq.Broker, runtime: Runtime) -> dramatiq.Actor:
    def run(request_id: int) -> None:
        if runtime.leases is not None:
            runtime.leases.hold(TABLE, request_id)
        try:
            deliver_request(runtime, request_id, locker_name())
        finally:
            if runtime.leases is not None:
                runtime.leases.release(TABLE, request_id)

    return dramatiq.Actor(
        run, broker=broker, actor_name=ACTOR_DELIVER_WEBHOOK_REQUEST, queue_name=QUEUE_WEBHOOKS, priority=0, options={}
    )
