"""The actors of incoming mail: `process_incoming_message(ids)` on the `incoming` queue and
`process_bounce(ids)` on the `bounces` queue. Both run the dequeue pipeline, which takes the
incoming branch (reference §4.2) by the message's scope."""

from __future__ import annotations

import dramatiq

from core.broker import ACTOR_PROCESS_BOUNCE, ACTOR_PROCESS_INCOMING_MESSAGE, QUEUE_BOUNCES, QUEUE_INCOMING
from core.jobs.dequeue import process_queued_messages
from core.runtime import Runtime


def declare_incoming(broker: dramatiq.Broker, runtime: Runtime) -> list[dramatiq.Actor]:
    def run(queued_message_ids: list[int]) -> None:
        process_queued_messages(runtime, queued_message_ids)

    return [
        dramatiq.Actor(run, broker=broker, actor_name=name, queue_name=queue, priority=0, options={})
        for name, queue in ((ACTOR_PROCESS_INCOMING_MESSAGE, QUEUE_INCOMING), (ACTOR_PROCESS_BOUNCE, QUEUE_BOUNCES))
    ]
