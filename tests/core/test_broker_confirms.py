"""A publish counts only once RabbitMQ has confirmed it: a job written into a connection that
breaks before the broker reads it is published again or reported as not published (so that its
rows go to the requeuer's next run), never taken for published and lost."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator

import pika
import pytest

from core.broker import BrokerUnavailable, Job, Publisher, RabbitmqBroker, create_broker, rabbitmq_parameters
from core.config import Config, build_config, replace
from tests.conftest import Backend, config_data_for
from tests.support.dns_server import DNSServer
from tests.support.fault_proxy import FaultProxy
from tests.support.smtp_sink import SMTPSink


@pytest.fixture
def proxy(services_backend: Backend) -> Iterator[FaultProxy]:
    running = FaultProxy(int(services_backend.data["rabbitmq"]["port"])).start()
    yield running
    running.stop()


@pytest.fixture
def config(services_backend: Backend, dns_server: DNSServer, smtp_sink: SMTPSink) -> Config:
    return build_config(config_data_for(services_backend, dns_server, smtp_sink), environ={})


@pytest.fixture
def broker(config: Config, proxy: FaultProxy) -> Iterator[RabbitmqBroker]:
    created = create_broker(replace(config, rabbitmq={"port": proxy.port}), allow_embedded=False)
    assert isinstance(created, RabbitmqBroker)
    yield created
    created.close()


@pytest.fixture
def queue(config: Config) -> Iterator[str]:
    name = f"test-confirms-{uuid.uuid4().hex[:8]}"
    yield name
    with contextlib.closing(pika.BlockingConnection(pika.ConnectionParameters(**rabbitmq_parameters(config)))) as c:  # type: ignore[arg-type]
        c.channel().queue_delete(name)


def ready_jobs(config: Config, queue: str) -> int:
    """The jobs waiting in `queue`, asked of RabbitMQ directly (not through the proxy)."""
    with contextlib.closing(pika.BlockingConnection(pika.ConnectionParameters(**rabbitmq_parameters(config)))) as c:  # type: ignore[arg-type]
        return int(c.channel().queue_declare(queue, passive=True).method.message_count)


def test_a_job_the_broker_never_read_is_not_taken_for_published(
    config: Config, broker: RabbitmqBroker, proxy: FaultProxy, queue: str
) -> None:
    publisher = Publisher(broker)
    job = Job(queue, "process_queued_message", ([1],))
    publisher.publish([job])  # the connection is open and the queue declared
    assert ready_jobs(config, queue) == 1

    cut = threading.Event()

    def break_connection() -> None:
        cut.set()
        proxy.cut()  # the connection breaks with the job unread
        proxy.restore()

    proxy.hold()  # RabbitMQ no longer reads what the publisher writes
    timer = threading.Timer(1.0, break_connection)
    timer.start()
    try:
        publisher.publish([job])  # on this thread's connection, which the hold left open
        published = True
    except BrokerUnavailable:
        published = False
    finally:
        timer.join()
    assert cut.is_set(), "the publish returned although RabbitMQ never read the job"
    # Published again on a new connection, or reported as not published: never "published" and lost.
    assert ready_jobs(config, queue) == (2 if published else 1)
