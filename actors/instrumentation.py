"""The Dramatiq middleware that measures every job a worker runs and names it in the log.

Postal's worker metrics (reference §11: `postal_worker_job_executions`, `_job_runtime`, `_errors`,
`_task_runtime`) and the per-queue counts operators scale pools by; the job's id is the request
id of every line logged while it runs. Dramatiq's own Prometheus middleware is not used: it
starts an HTTP server of its own per worker group and knows nothing of Postal's names.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from core import metrics
from core.broker import ACTOR_DELIVER_WEBHOOK_REQUEST, ACTOR_MAINTENANCE
from core.logs import bind, unbind


class JobMetrics(dramatiq.Middleware):
    """Times each job and counts it by queue, Postal job and thread."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._indexes = itertools.count()
        self._lock = threading.Lock()

    def _thread(self) -> str:
        # Postal labels work threads 0..N-1; Dramatiq's threads are numbered in the order they
        # first run a job.
        index = getattr(self._local, "index", None)
        if index is None:
            with self._lock:
                index = self._local.index = next(self._indexes)
        return str(index)

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._local.started = time.monotonic()
        self._local.tokens = bind(request_id=message.message_id)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = getattr(self._local, "started", None)
        elapsed = time.monotonic() - started if started is not None else 0.0
        queue = message.queue_name.removesuffix(".DQ")
        if message.actor_name == ACTOR_MAINTENANCE:
            task = str(message.args[0]) if message.args else "unknown"
            metrics.WORKER_TASK_RUNTIME.labels(task=task).observe(elapsed)
        else:
            job = (
                metrics.JOB_WEBHOOK_REQUESTS
                if message.actor_name == ACTOR_DELIVER_WEBHOOK_REQUEST
                else metrics.JOB_QUEUED_MESSAGES
            )
            thread = self._thread()
            metrics.WORKER_JOB_RUNTIME.labels(thread=thread, job=job).observe(elapsed)
            if exception is None:
                metrics.WORKER_JOB_EXECUTIONS.labels(thread=thread, job=job).inc()
        if exception is None:
            metrics.QUEUE_JOBS_PROCESSED.labels(queue=queue).inc()
        else:
            metrics.QUEUE_JOBS_FAILED.labels(queue=queue).inc()
            metrics.WORKER_ERRORS.labels(error=type(exception).__name__).inc()
        self._finish()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._finish()

    def _finish(self) -> None:
        tokens = getattr(self._local, "tokens", None)
        self._local.tokens = None
        self._local.started = None
        if tokens:
            unbind(tokens)


def instrument(broker: dramatiq.Broker) -> None:
    """Add the middleware to `broker` once (a process may start several workers on it)."""
    if not any(isinstance(m, JobMetrics) for m in broker.middleware):
        broker.add_middleware(JobMetrics())
