"""The Prometheus metrics every role records, and the registries its `/metrics` endpoints expose.

Postal's names and labels (reference §11) come first, then what operators scaling worker pools
need: per-queue job counts, delivery outcomes by pool, and the database queue read on scrape.

Postal's Ruby client exposes three counters without the `_total` suffix the Python client always
adds (`postal_smtp_server_client_errors`, `postal_worker_job_executions`, `postal_worker_errors`);
`PostalNames` renames them back on the way out, so dashboards and alerts written for Postal keep
working. They are exposed as `untyped`, the only type the text format allows without the suffix.

Worker groups of several processes write to `PROMETHEUS_MULTIPROC_DIR` (prometheus-client's
multiprocess mode, chosen in `actors.worker`); `multiprocess_registry` reads it back.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Connection, bindparam, case, func, select
from sqlalchemy.engine import Engine

from models.base import table, utcnow
from models.queued_message import QueuedMessage
from models.webhook import WebhookRequest

QM = table(QueuedMessage)

# `_created` series double every counter for no use in these dashboards.
disable_created_metrics()

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# -- SMTP server (Postal) -----------------------------------------------------------------------
SMTP_CONNECTIONS = Counter("postal_smtp_server_connections_total", "The number of connections made to the SMTP server")
SMTP_EXCEPTIONS = Counter(
    "postal_smtp_server_exceptions_total",
    "The number of server exceptions encountered (type: client-accept or data; error: the exception class)",
    ["type", "error"],
)
SMTP_TLS_CONNECTIONS = Counter(
    "postal_smtp_server_tls_connections_total", "The number of successful TLS connections established"
)
SMTP_COMMANDS = Counter(
    "postal_smtp_server_commands_total", "The number of key commands received by the server", ["command"]
)
SMTP_CLIENT_ERRORS = Counter("postal_smtp_server_client_errors", "The number of errors sent to a client", ["error"])
SMTP_MESSAGES = Counter(
    "postal_smtp_server_messages_total", "The number of messages accepted by the SMTP server", ["type", "tls"]
)

# -- worker (Postal) ----------------------------------------------------------------------------
# Postal's jobs are two table watchers; ours are actors. `job` keeps Postal's values so that its
# dashboards read the same: every queued-message actor is `ProcessQueuedMessagesJob`.
JOB_QUEUED_MESSAGES = "ProcessQueuedMessagesJob"
JOB_WEBHOOK_REQUESTS = "ProcessWebhookRequestsJob"
WORKER_JOB_EXECUTIONS = Counter(
    "postal_worker_job_executions", "The number of jobs worked by a worker where work was completed", ["thread", "job"]
)
WORKER_JOB_RUNTIME = Histogram(
    "postal_worker_job_runtime", "The time taken to process jobs (in seconds)", ["thread", "job"]
)
WORKER_ERRORS = Counter("postal_worker_errors", "The number of errors encountered while processing jobs", ["error"])
WORKER_TASK_RUNTIME = Histogram("postal_worker_task_runtime", "The time taken to process tasks (in seconds)", ["task"])
# Postal keeps the client's default buckets, whose largest is 10 s: under any backlog every
# observation lands in +Inf. These reach six hours, the far end of a queue that needs workers.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
MESSAGE_QUEUE_LATENCY = Histogram(
    "postal_message_queue_latency",
    "The length of time between a message being queued and its first attempt (in seconds)",
    buckets=LATENCY_BUCKETS,
)

# -- per queue: what scaling worker pools needs (additions) -------------------------------------
QUEUE_JOBS_PROCESSED = Counter(
    "postal_queue_jobs_processed_total", "Jobs a worker finished, by broker queue", ["queue"]
)
QUEUE_JOBS_FAILED = Counter(
    "postal_queue_jobs_failed_total", "Jobs that ended with an exception, by broker queue", ["queue"]
)
QUEUE_RETRIES = Counter(
    "postal_queue_retries_total",
    "Queued messages and webhook requests given another attempt later, by broker queue",
    ["queue"],
)
DELIVERY_OUTCOMES = Counter(
    "postal_delivery_outcomes_total",
    "Outcomes recorded for queued messages, by broker queue, IP pool and result (the delivery status)",
    ["queue", "pool", "result"],
)

# Postal's names as its Ruby client exposes them: no `_total`.
EXACT_NAMES = {
    "postal_smtp_server_client_errors": "postal_smtp_server_client_errors",
    "postal_worker_job_executions": "postal_worker_job_executions",
    "postal_worker_errors": "postal_worker_errors",
}


def pool_of(queue: str) -> str:
    """The IP pool of a broker queue (`outgoing-<pool>`), empty for the others."""
    return queue.removeprefix("outgoing-") if queue.startswith("outgoing-") else ""


def record_outcome(queue: str, result: str) -> None:
    DELIVERY_OUTCOMES.labels(queue=queue, pool=pool_of(queue), result=result).inc()


class PostalNames(Collector):
    """Another collector's metrics, with Postal's suffix-less counters renamed back."""

    def __init__(self, source: Collector) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        for metric in self.source.collect():
            name = EXACT_NAMES.get(metric.name)
            if name is None or metric.type != "counter":
                yield metric
                continue
            renamed = Metric(name, metric.documentation, "unknown")
            for sample in metric.samples:
                if sample.name == f"{metric.name}_total":
                    renamed.add_sample(name, sample.labels, sample.value, sample.timestamp)
            yield renamed


class QueueCollector(Collector):
    """Gauges of the database queue, read on scrape from its indexes: the messages waiting per
    broker queue (so per IP pool) by state, how long the oldest ready one has waited, and the
    webhook requests pending."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        waiting = GaugeMetricFamily(
            "postal_queued_messages",
            "Messages in the database queue, by broker queue, IP pool and state (ready, retrying, processing)",
            labels=["queue", "pool", "state"],
        )
        oldest = GaugeMetricFamily(
            "postal_queued_messages_oldest_ready_seconds",
            "How long the oldest message ready for a worker has been queued, by broker queue",
            labels=["queue", "pool"],
        )
        webhooks = GaugeMetricFamily(
            "postal_webhook_requests_pending",
            "Webhook requests not yet delivered, by state (ready, retrying, processing)",
            labels=["state"],
        )
        with self.engine.connect() as conn, conn.begin():  # one snapshot for every count
            counts, firsts = _queue_states(conn, now)
            wr = table(WebhookRequest)
            hook_state = _state(wr.c.locked_at, wr.c.retry_after, now).label("state")
            hooks = conn.execute(select(hook_state, func.count()).group_by(hook_state)).all()
        for queue, first in firsts.items():
            oldest.add_metric([queue, pool_of(queue)], max(0.0, (now - first).total_seconds()))
        for queue in sorted({q for q, _ in counts}):
            for row_state in ("ready", "retrying", "processing"):
                waiting.add_metric([queue, pool_of(queue), row_state], counts.get((queue, row_state), 0.0))
        found = {row_state: float(count) for row_state, count in hooks}
        for row_state in ("ready", "retrying", "processing"):
            webhooks.add_metric([row_state], found.get(row_state, 0.0))
        yield waiting
        yield oldest
        yield webhooks


def _queue_states(conn: Connection, now: datetime) -> tuple[dict[tuple[str, str], float], dict[str, datetime]]:
    """Queued messages per (queue, state), and when the oldest ready one of each queue was
    queued. Every statement reads `ix_queued_messages_queue_state` or `ix_queued_messages_due`
    alone, so a scrape stays well under a second with a million rows; a GROUP BY over the
    state expression would sort the whole table on every scrape."""
    by_queue = select(QM.c.queue, func.count()).group_by(QM.c.queue)
    totals: dict[str, int] = {q: n for q, n in conn.execute(by_queue)}
    processing: dict[str, int] = {q: n for q, n in conn.execute(by_queue.where(QM.c.locked_at.is_not(None)))}
    counts: dict[tuple[str, str], float] = {}
    firsts: dict[str, datetime] = {}
    unlocked = (QM.c.queue == bindparam("b_queue"), QM.c.locked_at.is_(None))
    for queue, total in totals.items():
        params = {"b_queue": queue}
        retrying = conn.execute(select(func.count()).where(*unlocked, QM.c.retry_after > now), params).scalar_one()
        # Two index ranges: never retried (oldest first in the index), and due again.
        fresh = conn.execute(select(func.min(QM.c.created_at)).where(*unlocked, QM.c.retry_after.is_(None)), params)
        again = conn.execute(select(func.min(QM.c.created_at)).where(*unlocked, QM.c.retry_after <= now), params)
        candidates = [t for t in (fresh.scalar(), again.scalar()) if t is not None]
        if candidates:
            firsts[queue] = min(candidates)
        busy = processing.get(queue, 0)
        counts[(queue, "processing")] = float(busy)
        counts[(queue, "retrying")] = float(retrying)
        counts[(queue, "ready")] = float(max(0, total - busy - retrying))
    return counts, firsts


def _state(locked_at: ColumnElement[Any], retry_after: ColumnElement[Any], now: datetime) -> ColumnElement[str]:
    # Locked rows are in a worker's hands; unlocked ones wait for their retry time or are due.
    return case((locked_at.is_not(None), "processing"), (retry_after > now, "retrying"), else_="ready")


def process_registry(engine: Engine | None = None) -> CollectorRegistry:
    """What this process recorded (and its process metrics), plus the queue gauges when given
    the main database."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PostalNames(REGISTRY))
    if engine is not None:
        registry.register(QueueCollector(engine))
    return registry


def multiprocess_registry(path: Path, engine: Engine | None = None) -> CollectorRegistry:
    """What every process of a worker group wrote to `path`, summed, plus the queue gauges."""
    source = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(source, str(path))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PostalNames(source))
    if engine is not None:
        registry.register(QueueCollector(engine))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def prepare_multiprocess_dir(path: Path) -> Path:
    """An empty directory for a worker group's metric files: files left by an earlier run would
    add its counts to this one's."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def process_exited(pid: int, path: Path) -> None:
    """A worker process of the group ended: its live gauges no longer count (its counters stay)."""
    mark_process_dead(pid, str(path))
