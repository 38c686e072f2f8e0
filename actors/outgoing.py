"""The actor that processes queued messages: `process_queued_message(ids)` (a list of
`queued_messages` ids, or one id as jobs published by older versions carry)."""

from __future__ import annotations

import dramatiq

from core.broker import ACTOR_PROCESS_QUEUED_MESSAGE, QUEUE_OUTGOING
from core.jobs.dequeue import process_queued_messages
from core.runtime import Runtime


def declare_outgoing(broker: dramatiq.Broker, runtime: Runtime) -> dramatiq.Actor:
    def run(queued_message_ids: list[int] | int) -> None:
        ids = queued_message_ids if isinstance(queued_message_ids, list) else [queued_message_ids]
        process_queued_messages(runtime, ids)

    # The same actor consumes `outgoing` and every `outgoing-<pool>` queue; a job's queue is
    # chosen when it is published. Retries are not Dramatiq's: `retry_after` in the database.
    return dramatiq.Actor(
        run,
        broker=broker,
        actor_name=ACTOR_PROCESS_QUEUED_MESSAGE,
        queue_name=QUEUE_OUTGOING,
        priority=0,
        options={},
    )
