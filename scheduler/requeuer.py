"""The requeuer: publishes every queued message and webhook request that is due and has no live
job (DESIGN §3).

A job can be missing because publishing failed, the in-process queue was lost on restart, or
the worker holding the row died: its lease (`locked_at`, renewed while it works) runs out after
`worker.lease_seconds` and the row is handed out again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from core.broker import QUEUE_WEBHOOKS, BrokerUnavailable
from core.queue import queued_messages as queue
from core.runtime import Runtime
from core.webhooks.requests import REQUESTS

log = logging.getLogger(__name__)

# A published job not picked up within this time is published again (duplicates are harmless).
REPUBLISH_AFTER = timedelta(minutes=5)
BATCH = 1000


def requeue(runtime: Runtime, republish_after: timedelta = REPUBLISH_AFTER) -> int:
    """Publish what is due; returns how many jobs were published."""
    publisher = runtime.require_publisher()
    lease = timedelta(seconds=runtime.config.worker.lease_seconds)
    total = 0
    for table, fixed_queue in ((queue.QM, None), (REQUESTS, QUEUE_WEBHOOKS)):
        while True:
            now = runtime.clock()
            rows = queue.due_rows(
                runtime.db.engine,
                now=now,
                stale_publish=now - republish_after,
                stale_lock=now - lease,
                limit=BATCH,
                table=table,
                queue_name=fixed_queue,
            )
            if rows:
                try:
                    if fixed_queue is None:
                        publisher.publish_queued_messages(rows)
                    else:
                        publisher.publish_webhook_requests([row_id for row_id, _ in rows])
                except BrokerUnavailable:
                    # `due_rows` marked them published; they were not, so the next run takes them.
                    queue.unpublish(runtime.db.engine, [row_id for row_id, _ in rows], table)
                    raise
                total += len(rows)
            if len(rows) < BATCH:
                break
    if total:
        log.info("requeuer published %d jobs", total)
    return total
