"""The requeuer: publishes every queued message and webhook request that is due and has no live
job (DESIGN §3).

A job can be missing because publishing failed, the in-process queue was lost on restart, or
the worker holding the row died: its lease (`locked_at`, renewed while it works) runs out after
`worker.lease_seconds` and the row is handed out again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from core.broker import QUEUE_WEBHOOKS, BrokerUnavailable
from core.queue import queued_messages as queue
from core.runtime import Runtime
from core.webhooks.requests import REQUESTS

log = logging.getLogger(__name__)

# A published job not picked up within this time is published again (duplicates are harmless).
REPUBLISH_AFTER = timedelta(minutes=5)
BATCH = 1000


def requeue(
    runtime: Runtime,
    republish_after: timedelta = REPUBLISH_AFTER,
    budget_seconds: float | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Publish what is due; returns how many jobs were published. With `budget_seconds` the run
    ends after the batch that passes it (each table still gets one batch), and with `stop` after
    the batch in hand once it is set: a backlog of a million rows is published over several
    runs, each short enough for the scheduler to renew its lease between them and to stop when
    told."""
    publisher = runtime.require_publisher()
    lease = timedelta(seconds=runtime.config.worker.lease_seconds)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    total = 0

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    for table, fixed_queue in ((queue.QM, None), (REQUESTS, QUEUE_WEBHOOKS)):
        # Each table gets at least one batch per run, so a long backlog of one starves no other.
        while not stopped():
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
            if len(rows) < BATCH or (deadline is not None and time.monotonic() >= deadline):
                break
    if total:
        log.info("requeuer published %d jobs", total)
    return total
