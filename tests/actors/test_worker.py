"""Which queues a worker consumes, and that they are plain RabbitMQ queues the management UI shows."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pika
import pytest

from actors.worker import start_worker
from core.broker import BASE_QUEUES, Publisher, create_broker, rabbitmq_parameters
from core.config import Config
from core.runtime import Runtime
from core.tenancy.ip_pools import add_address, create_pool
from tests.conftest import Backend


@pytest.fixture
def worker_runtime(backend: Backend, config: Config) -> Iterator[Runtime]:
    if not backend.external:
        pytest.skip("the in-process queue has no RabbitMQ queues to look at")
    from core.installation import initialize_database

    initialize_database(config).dispose()
    broker = create_broker(config, allow_embedded=False)
    runtime = Runtime.create(config, Publisher(broker))
    with runtime.db.transaction() as session:
        pool = create_pool(session, "Local")
        add_address(session, pool, "127.0.0.2", "local.postal.test")
        remote = create_pool(session, "Remote")
        add_address(session, remote, "198.51.100.7", "remote.postal.test")
    yield runtime
    runtime.close()
    broker.close()


def queue_exists(config: Config, name: str) -> bool:
    connection = pika.BlockingConnection(pika.ConnectionParameters(**rabbitmq_parameters(config)))  # type: ignore[arg-type]
    try:
        channel = connection.channel()
        channel.queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def test_without_queues_a_worker_takes_the_base_queues_and_its_hosts_pools(
    worker_runtime: Runtime, config: Config
) -> None:
    broker = worker_runtime.require_publisher().broker
    worker, stop = start_worker(broker, worker_runtime, None, 1)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "outgoing-local" not in worker.consumers:
            time.sleep(0.1)
        assert {*BASE_QUEUES, "outgoing-local"} <= set(worker.consumers)
        assert "outgoing-remote" not in worker.consumers
        # Each consumer thread declares its queue when it first connects, which may take a moment.
        for name in (*BASE_QUEUES, "outgoing-local"):
            while not queue_exists(config, name) and time.monotonic() < deadline + 20:
                time.sleep(0.2)
            assert queue_exists(config, name), name
        # The consumers consume through connections of their own; none is left idle to be dropped.
        assert [c for c in broker.connections if c.is_open] == []  # type: ignore[attr-defined]
    finally:
        stop.set()
        worker.stop()


def test_named_queues_are_the_only_ones_consumed(worker_runtime: Runtime) -> None:
    broker = worker_runtime.require_publisher().broker
    worker, stop = start_worker(broker, worker_runtime, ["webhooks", "outgoing-remote"], 1)
    try:
        time.sleep(0.5)
        assert {q.removesuffix(".DQ") for q in worker.consumers} == {"webhooks", "outgoing-remote"}
    finally:
        stop.set()
        worker.stop()
