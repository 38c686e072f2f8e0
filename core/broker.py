"""The job broker (RabbitMQ through Dramatiq, or in-process when embedded) and job publishing.

The broker only carries ids: a job says "look at queued message 123". The database row is the
truth, so a job may be published twice without harm, and the requeuer re-publishes what is due.
A publish waits for RabbitMQ's confirm all the same: a job written into a connection that breaks
before the broker reads it would otherwise count as published, and its rows would wait for the
requeuer's republication of stale jobs (minutes) instead of its next run (seconds). A job carries
up to `JOB_BATCH` messages, so the wait is one round trip per job, not per message.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import dramatiq
import pika
from dramatiq.broker import MessageProxy
from dramatiq.brokers.rabbitmq import RabbitmqBroker as DramatiqRabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Retries, ShutdownNotifications, TimeLimit
from sqlalchemy.exc import OperationalError

from core.config import Config
from core.errors import ConfigError, DatabaseUnavailable, PostalError

log = logging.getLogger(__name__)

QUEUE_OUTGOING = "outgoing"
QUEUE_INCOMING = "incoming"
QUEUE_BOUNCES = "bounces"
QUEUE_WEBHOOKS = "webhooks"
QUEUE_MAINTENANCE = "maintenance"
BASE_QUEUES = (QUEUE_OUTGOING, QUEUE_INCOMING, QUEUE_BOUNCES, QUEUE_WEBHOOKS, QUEUE_MAINTENANCE)

# Actor names (the actors themselves live in the `actors` package).
ACTOR_PROCESS_QUEUED_MESSAGE = "process_queued_message"
# Incoming mail and bounces run the same code as outgoing mail, but under actors of their own so
# that operators see them apart (and a worker can be told to consume only them).
ACTOR_PROCESS_INCOMING_MESSAGE = "process_incoming_message"
ACTOR_PROCESS_BOUNCE = "process_bounce"
# Queued messages per job at most (a job of several is processed in one thread, in order).
JOB_BATCH = 10
ACTOR_DELIVER_WEBHOOK_REQUEST = "deliver_webhook_request"
ACTOR_MAINTENANCE = "run_maintenance_task"


# How long publishing fails at once after the broker could not be reached (the requeuer, which
# runs every few seconds, publishes what was left unpublished meanwhile).
RETRY_BROKER_AFTER_SECONDS = 5.0

HEARTBEAT_SECONDS = 60
# pika answers the server's heartbeats only while a connection is in use. A thread's own
# connection (for publishing and declaring) left idle past the heartbeat timeout is closed by
# RabbitMQ ("missed heartbeats from client"), and its next use, or closing it at shutdown, meets
# a dead socket. So one idle this long is closed first and a new one opened.
IDLE_CONNECTION_SECONDS = HEARTBEAT_SECONDS / 2


class BrokerUnavailable(PostalError):
    """The broker could not take a job (it is down or unreachable)."""


def pool_queue(permalink: str) -> str:
    """The delivery queue of one IP pool."""
    return f"{QUEUE_OUTGOING}-{permalink}"


# A job that failed because the database could not be reached is run again this many times, after
# 1 s, 2 s, 4 s … at most 30 s apart; past that the requeuer publishes its rows again anyway.
DATABASE_RETRIES = 60


def database_unreachable(exc: BaseException) -> bool:
    """An error that says the database is down or unreachable (or the transaction met a deadlock),
    not that the job is wrong: the job is worth running again unchanged."""
    return isinstance(exc, OperationalError | DatabaseUnavailable)


class RetryWhenDatabaseUnreachable(Retries):
    """Dramatiq's retries for one kind of failure only. The retry timing of a message lives in the
    database (`retry_after`); but a job that could not even claim its rows, because the database
    could not be reached, would otherwise be dropped, and its rows wait for the requeuer's
    republication minutes later."""

    def __init__(self) -> None:
        super().__init__(min_backoff=1000, max_backoff=30_000, retry_when=self._retry_when)

    @staticmethod
    def _retry_when(retries: int, exc: BaseException) -> bool:
        return database_unreachable(exc) and retries < DATABASE_RETRIES

    def after_process_message(
        self, broker: dramatiq.Broker, message: MessageProxy, *, result: Any = None, exception: Any = None
    ) -> None:
        # Any other failure is left as it is without this middleware (no "retries exceeded" noise).
        if exception is not None and self._retry_when(message.options.get("retries", 0), exception):
            super().after_process_message(broker, message, result=result, exception=exception)


def _middleware() -> list[dramatiq.Middleware]:
    return [
        TimeLimit(time_limit=30 * 60 * 1000),
        ShutdownNotifications(),
        CurrentMessage(),
        RetryWhenDatabaseUnreachable(),
    ]


def rabbitmq_parameters(config: Config) -> dict[str, object]:
    """Keyword arguments of `pika.ConnectionParameters` (Dramatiq builds the object itself)."""
    mq = config.rabbitmq
    ssl_options = None
    if mq.tls:
        context = ssl.create_default_context()
        for path in mq.tls_ca_certificates:
            context.load_verify_locations(path)
        if not mq.verify_peer:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        ssl_options = pika.SSLOptions(context, mq.host)
    return {
        "host": mq.host,
        "port": mq.port,
        "virtual_host": mq.vhost,
        "credentials": pika.PlainCredentials(mq.username, mq.password),
        "ssl_options": ssl_options,
        "heartbeat": HEARTBEAT_SECONDS,
        "connection_attempts": 3,
        "retry_delay": 1,
        "blocked_connection_timeout": 30,
    }


def create_broker(config: Config, *, allow_embedded: bool) -> dramatiq.Broker:
    """The broker for this process; the in-process one only where every role shares the process."""
    if config.embedded_queue:
        if not allow_embedded:
            raise ConfigError(
                "rabbitmq.host is empty, which means an in-process queue: only `postal run` can use it. "
                "Set rabbitmq.host (or RABBITMQ_HOST) to run the roles as separate processes."
            )
        broker: dramatiq.Broker = StubBroker(middleware=_middleware())
    else:
        broker = RabbitmqBroker(
            parameters=[rabbitmq_parameters(config)],
            middleware=_middleware(),
            confirm_delivery=True,
        )
    dramatiq.set_broker(broker)
    return broker


class RabbitmqBroker(DramatiqRabbitmqBroker):
    """Dramatiq's RabbitMQ broker, without connections that idle until the server drops them.

    Dramatiq keeps a connection per thread for publishing and declaring. A consumer thread opens
    one only to declare its queue and then consumes through a connection of its own, and a
    thread that published once may not publish again for hours. Here the connection a consumer
    thread declared with is closed at once, one idle for `IDLE_CONNECTION_SECONDS` is replaced
    at its next use, and at shutdown one idle past the heartbeat timeout is left to close with
    the process rather than touched."""

    def __init__(self, *args: Any, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        # When each connection's thread last used it (weak: Dramatiq drops connections by itself).
        self._last_used: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def _fresh_channel(self) -> Any:
        now = self._clock()
        connection = getattr(self.state, "connection", None)
        if connection is not None and now - self._last_used.get(connection, now) > IDLE_CONNECTION_SECONDS:
            self.release_thread_connection()
        channel = DramatiqRabbitmqBroker.channel.fget(self)  # type: ignore[attr-defined]
        self._last_used[self.state.connection] = now
        return channel

    channel = property(_fresh_channel, None, DramatiqRabbitmqBroker.channel.fdel)  # type: ignore[attr-defined]

    def release_thread_connection(self) -> None:
        """Close this thread's own connection, if it has one; its next use opens another."""
        connection = getattr(self.state, "connection", None)
        if connection is not None:
            # `close` may have dropped them from the broker's sets; Dramatiq's deleters expect them there.
            self.connections.add(connection)
            channel = getattr(self.state, "channel", None)
            if channel is not None:
                self.channels.add(channel)
        del self.connection

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> dramatiq.Consumer:
        consumer = super().consume(queue_name, prefetch, timeout)
        self.release_thread_connection()
        return consumer

    def close(self) -> None:
        now = self._clock()
        for connection in list(self.connections):
            if now - self._last_used.get(connection, now) > HEARTBEAT_SECONDS:
                self.connections.discard(connection)
                self.channels.difference_update([c for c in self.channels if c.connection is connection])
        super().close()


@dataclass(frozen=True)
class Job:
    queue: str
    actor: str
    args: tuple[int | str | list[int], ...]


def actor_for_queue(queue: str) -> str:
    """The actor that processes the queued messages published on `queue`."""
    if queue == QUEUE_INCOMING:
        return ACTOR_PROCESS_INCOMING_MESSAGE
    if queue == QUEUE_BOUNCES:
        return ACTOR_PROCESS_BOUNCE
    return ACTOR_PROCESS_QUEUED_MESSAGE


class Publisher:
    """Hands jobs to the broker. Thread-safe: the RabbitMQ broker keeps a channel per thread."""

    def __init__(self, broker: dramatiq.Broker, clock: Callable[[], float] = time.monotonic) -> None:
        self.broker = broker
        self._declared: set[str] = set()
        self._lock = threading.Lock()
        self._clock = clock
        # After a failure the broker is not tried again for a moment: each attempt waits for
        # connection retries, and the SMTP server's replies must not wait for them.
        self._down_until = 0.0

    def _declare(self, queue: str) -> None:
        if queue in self._declared:
            return
        with self._lock:
            if queue not in self._declared:
                self.broker.declare_queue(queue)
                self._declared.add(queue)

    def publish(self, jobs: Iterable[Job]) -> None:
        """Publish every job; raises BrokerUnavailable if the broker refuses (nothing is lost:
        the rows stay queued and the requeuer publishes them again)."""
        if self._clock() < self._down_until:
            raise BrokerUnavailable("The job queue could not be reached a moment ago; not trying again yet")
        try:
            for job in jobs:
                self._declare(job.queue)
                message: dramatiq.Message[None] = dramatiq.Message(
                    queue_name=job.queue,
                    actor_name=job.actor,
                    args=job.args,
                    kwargs={},
                    options={},
                )
                self.broker.enqueue(message)
        except (pika.exceptions.AMQPError, dramatiq.errors.BrokerError, OSError) as exc:
            self._down_until = self._clock() + RETRY_BROKER_AFTER_SECONDS
            raise BrokerUnavailable(f"Could not publish to the job queue: {exc!r}") from exc

    def publish_queued_messages(self, rows: Sequence[tuple[int, str]]) -> None:
        """Publish the processing jobs of `(queued message id, queue name)` rows: the rows of a
        queue go together, up to `JOB_BATCH` per job, so that one job reads, signs, sends and
        records them with a few statements instead of a few per message."""
        by_queue: dict[str, list[int]] = {}
        for row_id, queue in rows:
            by_queue.setdefault(queue, []).append(row_id)
        self.publish(
            Job(queue, actor_for_queue(queue), (ids[i : i + JOB_BATCH],))
            for queue, ids in by_queue.items()
            for i in range(0, len(ids), JOB_BATCH)
        )

    def publish_webhook_requests(self, request_ids: Sequence[int]) -> None:
        self.publish(Job(QUEUE_WEBHOOKS, ACTOR_DELIVER_WEBHOOK_REQUEST, (rid,)) for rid in request_ids)

    def publish_maintenance(self, task: str) -> None:
        self.publish([Job(QUEUE_MAINTENANCE, ACTOR_MAINTENANCE, (task,))])
