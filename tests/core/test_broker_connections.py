"""The RabbitMQ broker keeps no connection idle until the server drops it for missed heartbeats:
one idle for half the heartbeat timeout is replaced at its next use, a consumer thread closes the
one it declared its queue with, and at shutdown one idle past the timeout is not touched."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pika
import pytest

from core.broker import HEARTBEAT_SECONDS, IDLE_CONNECTION_SECONDS, Publisher, RabbitmqBroker
from tests.conftest import RABBITMQ, require
from tests.support.services import rabbitmq_reachable, rabbitmq_vhost


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def broker(clock: Clock) -> Iterator[RabbitmqBroker]:
    require("RabbitMQ", rabbitmq_reachable(RABBITMQ["host"], RABBITMQ["port"]), f"{RABBITMQ['host']}:5672")
    with rabbitmq_vhost() as vhost:
        parameters = {
            **RABBITMQ,
            "virtual_host": vhost,
            "credentials": pika.PlainCredentials("guest", "guest"),
            "heartbeat": HEARTBEAT_SECONDS,
        }
        broker = RabbitmqBroker(parameters=[parameters], clock=clock)
        yield broker
        broker.close()
        for connection in list(broker.connections):
            if connection.is_open:
                connection.close()


def test_a_connection_idle_for_half_the_heartbeat_timeout_is_replaced(broker: RabbitmqBroker, clock: Clock) -> None:
    publisher = Publisher(broker)
    publisher.publish_maintenance("prune_webhook_requests")
    [first] = broker.connections
    clock.now += IDLE_CONNECTION_SECONDS / 2
    publisher.publish_maintenance("prune_webhook_requests")
    assert broker.connections == {first}  # in use: kept

    clock.now += IDLE_CONNECTION_SECONDS + 1
    publisher.publish_maintenance("prune_webhook_requests")
    [second] = broker.connections
    assert second is not first
    assert first.is_closed and second.is_open
    # Publishing does not wait for the server, so the count may take a moment to reach 3.
    deadline = time.monotonic() + 30
    while broker.get_queue_message_counts("maintenance")[0] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert broker.get_queue_message_counts("maintenance")[0] == 3


def test_a_consumer_thread_keeps_no_connection_of_its_own(broker: RabbitmqBroker) -> None:
    broker.declare_queue("outgoing")
    consumer = broker.consume("outgoing", prefetch=1, timeout=100)
    try:
        assert broker.connections == set()  # the queue is declared, the consumer has its own
        assert broker.get_queue_message_counts("outgoing")[0] == 0
    finally:
        consumer.close()


def test_at_shutdown_a_connection_idle_past_the_timeout_is_left_alone(broker: RabbitmqBroker, clock: Clock) -> None:
    Publisher(broker).publish_maintenance("prune_webhook_requests")
    [idle] = broker.connections
    clock.now += HEARTBEAT_SECONDS + 1
    broker.close()
    assert idle.is_open  # not touched: the server may have dropped it; it closes with the process
    idle.close()

    Publisher(broker).publish_maintenance("prune_webhook_requests")
    [recent] = broker.connections
    broker.close()
    assert recent.is_closed
