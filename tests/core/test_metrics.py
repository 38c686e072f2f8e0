"""The metrics of reference §11 under Postal's names, the queue gauges read on scrape, and the
counters moving when mail flows: through a running SMTP server, a processed queue, a worker."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from actors.worker import start_worker
from core import metrics
from core.runtime import Runtime
from core.tenancy.servers import find_server
from core.webhooks.subscriptions import create_webhook
from tests.conftest import Installation
from tests.support.outgoing import run_queue, send
from tests.support.smtp_server import running_smtp_server
from tests.support.smtp_sink import SMTPSink

POSTAL_METRICS = {
    # family name as the parser reports it → type
    "postal_smtp_server_connections": "counter",
    "postal_smtp_server_exceptions": "counter",
    "postal_smtp_server_tls_connections": "counter",
    "postal_smtp_server_commands": "counter",
    "postal_smtp_server_client_errors": "unknown",
    "postal_smtp_server_messages": "counter",
    "postal_worker_job_executions": "unknown",
    "postal_worker_job_runtime": "histogram",
    "postal_worker_errors": "unknown",
    "postal_worker_task_runtime": "histogram",
    "postal_message_queue_latency": "histogram",
}


def scrape(registry: CollectorRegistry) -> str:
    return metrics.render(registry).decode()


def value(text: str, sample: str, **labels: str) -> float:
    """The sum of the samples named `sample` whose labels include `labels` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        time.sleep(0.05)


def test_postal_metrics_keep_postal_names_and_types() -> None:
    # Given one sample of each suffix-less counter
    metrics.SMTP_CLIENT_ERRORS.labels(error="invalid-command").inc()
    metrics.WORKER_JOB_EXECUTIONS.labels(thread="0", job=metrics.JOB_QUEUED_MESSAGES).inc()
    metrics.WORKER_ERRORS.labels(error="RuntimeError").inc()

    # When the process registry is scraped
    text = scrape(metrics.process_registry())

    # Then every metric of reference §11 is there, by Postal's name
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    for name, kind in POSTAL_METRICS.items():
        assert families.get(name) == kind, name
    assert "# TYPE postal_smtp_server_client_errors untyped" in text
    assert "postal_smtp_server_client_errors_total" not in text
    assert value(text, "postal_smtp_server_client_errors", error="invalid-command") >= 1
    assert value(text, "postal_worker_job_executions", job="ProcessQueuedMessagesJob") >= 1
    assert 'postal_message_queue_latency_bucket{le="21600.0"}' in text


def test_queue_gauges_and_delivery_outcomes_follow_the_queue(installation: Installation, smtp_sink: SMTPSink) -> None:
    runtime = installation.runtime
    registry = metrics.process_registry(runtime.db.engine)
    with runtime.db.transaction() as session:
        create_webhook(session, find_server(session, installation.server_ref), "http://127.0.0.1:9/hook")
    before = scrape(registry)

    # Given a message accepted and not yet processed
    send(installation, "c@example.net")
    waiting = scrape(registry)
    assert value(waiting, "postal_queued_messages", queue="outgoing", pool="", state="ready") == 1
    assert value(waiting, "postal_queued_messages_oldest_ready_seconds", queue="outgoing") >= 0
    assert value(waiting, "postal_webhook_requests_pending", state="ready") == 0

    # When a worker processes it
    assert run_queue(installation) == 1
    assert len(smtp_sink.wait_for(1)) == 1

    # Then it left the queue, its outcome is counted, the latency observed, a webhook is pending
    after = scrape(registry)
    assert value(after, "postal_queued_messages", queue="outgoing", state="ready") == 0
    sent = "postal_delivery_outcomes_total"
    assert (
        value(after, sent, queue="outgoing", result="Sent") == value(before, sent, queue="outgoing", result="Sent") + 1
    )
    latency = "postal_message_queue_latency_count"
    assert value(after, latency) == value(before, latency) + 1
    assert value(after, "postal_webhook_requests_pending", state="ready") == 1


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Shop <orders@example.com>"
    message["To"] = "customer@example.net"
    message["Subject"] = "Metrics"
    message.set_content("Counted.")
    return message


def test_smtp_counters_move_when_mail_is_sent_through_the_server(installation: Installation) -> None:
    registry = metrics.process_registry()
    before = scrape(registry)
    # Given a client that gets its password wrong once, then right
    with running_smtp_server(installation.runtime) as port, smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("client.test")
        wrong = base64.b64encode(b"\0acme/main\0not-the-key").decode()
        assert client.docmd("AUTH", f"PLAIN {wrong}")[0] == 535
        right = base64.b64encode(f"\0acme/main\0{installation.smtp_key}".encode()).decode()
        assert client.docmd("AUTH", f"PLAIN {right}")[0] == 235
        # When it sends a message for two recipients, and an unknown command
        client.send_message(_message(), to_addrs=["customer@example.net", "other@example.net"])
        assert client.docmd("WHATEVER")[0] == 502
    after = scrape(registry)

    # Then Postal's counters moved by as much
    def moved(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert moved("postal_smtp_server_connections_total") == 1
    assert moved("postal_smtp_server_commands_total", command="EHLO") == 1
    assert moved("postal_smtp_server_commands_total", command="AUTH PLAIN") == 2
    assert moved("postal_smtp_server_client_errors", error="invalid-credentials") == 1
    assert moved("postal_smtp_server_client_errors", error="invalid-command") == 1
    assert moved("postal_smtp_server_messages_total", type="outgoing", tls="no") == 2
    assert moved("postal_smtp_server_tls_connections_total") == 0


def test_worker_counts_jobs_by_queue_and_postal_job(installation: Installation, smtp_sink: SMTPSink) -> None:
    runtime: Runtime = installation.runtime
    registry = metrics.process_registry(runtime.db.engine)
    before = scrape(registry)
    # Given a worker consuming the process's queue
    worker, stop = start_worker(runtime.require_publisher().broker, runtime, None, 2)
    try:
        # When a message is accepted and its job runs
        send(installation, "c@example.net")
        smtp_sink.wait_for(1)

        def processed() -> bool:
            text = scrape(registry)
            return value(text, "postal_queue_jobs_processed_total", queue="outgoing") > value(
                before, "postal_queue_jobs_processed_total", queue="outgoing"
            )

        wait_until(processed)
    finally:
        stop.set()
        worker.stop()
        if runtime.leases is not None:
            runtime.leases.stop()
    after = scrape(registry)

    # Then the job is counted for its queue and as Postal's job, with its runtime
    job = {"job": "ProcessQueuedMessagesJob"}
    assert (
        value(after, "postal_worker_job_executions", **job) == value(before, "postal_worker_job_executions", **job) + 1
    )
    runtime_count = "postal_worker_job_runtime_count"
    assert value(after, runtime_count, **job) == value(before, runtime_count, **job) + 1
    assert value(after, "postal_queue_jobs_failed_total", queue="outgoing") == value(
        before, "postal_queue_jobs_failed_total", queue="outgoing"
    )


CHILD = """
from core import metrics
metrics.WORKER_JOB_EXECUTIONS.labels(thread="0", job=metrics.JOB_QUEUED_MESSAGES).inc(2)
metrics.QUEUE_JOBS_PROCESSED.labels(queue="outgoing-eu").inc()
"""


def test_a_worker_group_reports_the_sum_of_its_processes(tmp_path: Path) -> None:
    # Given two processes of one group that each ran jobs, one of them gone
    directory = metrics.prepare_multiprocess_dir(tmp_path / "group")
    env = {metrics.MULTIPROC_ENV: str(directory), "PATH": "/usr/bin:/bin"}
    root = Path(__file__).resolve().parents[2]
    for _ in range(2):
        child = subprocess.run(
            [sys.executable, "-c", CHILD], check=False, env=env, cwd=root, capture_output=True, timeout=60
        )
        assert child.returncode == 0, child.stderr.decode()
    # When the group's registry is scraped
    text = scrape(metrics.multiprocess_registry(directory))
    # Then it counts what both did, under Postal's names
    assert value(text, "postal_worker_job_executions", job="ProcessQueuedMessagesJob") == 4
    assert value(text, "postal_queue_jobs_processed_total", queue="outgoing-eu") == 2
    assert "postal_worker_job_executions_total" not in text


def test_a_fresh_group_directory_forgets_the_last_run(tmp_path: Path) -> None:
    directory = tmp_path / "group"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"left over")
    metrics.prepare_multiprocess_dir(directory)
    assert list(directory.iterdir()) == []


def test_the_grafana_dashboard_reads_only_metrics_that_exist(installation: Installation) -> None:
    # Given every metric with a sample (labelled ones get one here)
    metrics.SMTP_EXCEPTIONS.labels(type="data", error="RuntimeError")
    metrics.SMTP_COMMANDS.labels(command="EHLO")
    metrics.SMTP_MESSAGES.labels(type="outgoing", tls="no")
    metrics.WORKER_JOB_RUNTIME.labels(thread="0", job=metrics.JOB_QUEUED_MESSAGES)
    metrics.WORKER_TASK_RUNTIME.labels(task="prune_webhook_requests")
    metrics.QUEUE_JOBS_FAILED.labels(queue="outgoing")
    metrics.QUEUE_JOBS_PROCESSED.labels(queue="outgoing")
    metrics.SMTP_CLIENT_ERRORS.labels(error="invalid-command")
    metrics.WORKER_ERRORS.labels(error="RuntimeError")
    metrics.WORKER_JOB_EXECUTIONS.labels(thread="0", job=metrics.JOB_QUEUED_MESSAGES)
    metrics.QUEUE_RETRIES.labels(queue="outgoing")
    metrics.record_outcome("outgoing-eu", "Sent")
    send(installation, "c@example.net")
    text = scrape(metrics.process_registry(installation.runtime.db.engine))
    samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    # Then each series the dashboard queries is one of them
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy/grafana/postal-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"postal_[a-z_]+", target["expr"])
    }
    assert queried and queried <= samples, queried - samples


def test_queue_gauges_count_each_state_of_each_queue(installation: Installation) -> None:
    # Given five queued rows in two queues: processing, retrying, two ready (one queued an hour
    # ago, and due again after a retry) and one ready in a pool's queue
    runtime = installation.runtime
    for i in range(5):
        send(installation, f"c{i}@example.net")
    qm = metrics.QM
    now = runtime.clock()
    with runtime.db.engine.begin() as conn:
        ids = list(conn.scalars(select(qm.c.id).order_by(qm.c.id)))
        changes: list[dict[str, Any]] = [
            {"locked_by": "a worker", "locked_at": now},
            {"retry_after": now + dt.timedelta(minutes=5)},
            {"retry_after": now - dt.timedelta(minutes=1), "created_at": now - dt.timedelta(hours=1)},
            {},
            {"queue": "outgoing-pool2"},
        ]
        for row_id, values in zip(ids, changes, strict=True):
            if values:
                conn.execute(update(qm).where(qm.c.id == row_id).values(**values))

    # When the queue gauges are scraped
    text = scrape(metrics.process_registry(runtime.db.engine))

    # Then every state of every queue is counted, and the oldest ready one is the hour-old row
    states = {
        (queue, state): value(text, "postal_queued_messages", queue=queue, state=state)
        for queue in ("outgoing", "outgoing-pool2")
        for state in ("ready", "retrying", "processing")
    }
    assert states == {
        ("outgoing", "ready"): 2,
        ("outgoing", "retrying"): 1,
        ("outgoing", "processing"): 1,
        ("outgoing-pool2", "ready"): 1,
        ("outgoing-pool2", "retrying"): 0,
        ("outgoing-pool2", "processing"): 0,
    }
    assert 'postal_queued_messages{pool="pool2",queue="outgoing-pool2",state="ready"} 1.0' in text
    oldest = value(text, "postal_queued_messages_oldest_ready_seconds", queue="outgoing")
    assert 3600 <= oldest < 3600 + 600
    assert 0 <= value(text, "postal_queued_messages_oldest_ready_seconds", queue="outgoing-pool2") < 600
