"""The requeuer publishes what is due and has no live job; one scheduler is active at a time."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import select, update

from core import leases
from core.broker import BrokerUnavailable, Publisher
from core.outgoing.submission import Submission, submit
from models.base import table
from models.queued_message import QueuedMessage
from scheduler import requeuer
from scheduler.requeuer import requeue
from tests.conftest import Installation
from tests.support.processes import free_port

QM = table(QueuedMessage)
RAW = b"From: orders@example.com\r\nTo: c@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"


def queue_rows(installation: Installation, count: int) -> list[int]:
    submit(
        installation.runtime,
        Submission(
            server_id=installation.server_id,
            mail_from="orders@example.com",
            rcpt_to=[f"c{i}@example.net" for i in range(count)],
            raw=RAW,
        ),
    )
    with installation.runtime.db.engine.connect() as conn:
        return list(conn.scalars(select(QM.c.id).order_by(QM.c.id)))


def published_ids(installation: Installation) -> list[int]:
    broker = installation.runtime.require_publisher().broker
    queue = broker.queues["outgoing"]  # type: ignore[attr-defined]
    ids = []
    while not queue.empty():
        from dramatiq import Message

        job = Message.decode(queue.get_nowait()).args[0]
        ids.extend(job if isinstance(job, list) else [job])
    return ids


def test_freshly_published_rows_are_left_alone(installation: Installation) -> None:
    queue_rows(installation, 2)
    published_ids(installation)  # the submission's own jobs
    assert requeue(installation.runtime) == 0


def test_rows_whose_job_went_missing_are_published_again(installation: Installation) -> None:
    ids = queue_rows(installation, 3)
    published_ids(installation)
    runtime = installation.runtime
    now = runtime.clock()
    with runtime.db.engine.begin() as conn:
        # 1: never published (broker was down); 2: published long ago; 3: due later.
        conn.execute(update(QM).where(QM.c.id == ids[0]).values(published_at=None))
        conn.execute(update(QM).where(QM.c.id == ids[1]).values(published_at=now - dt.timedelta(hours=1)))
        conn.execute(
            update(QM).where(QM.c.id == ids[2]).values(published_at=None, retry_after=now + dt.timedelta(hours=1))
        )
    assert requeue(runtime) == 2
    assert sorted(published_ids(installation)) == ids[:2]
    assert requeue(runtime) == 0  # marked published again


def test_rows_it_could_not_publish_are_taken_again_by_the_next_run(installation: Installation) -> None:
    ids = queue_rows(installation, 2)
    published_ids(installation)
    runtime = installation.runtime
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).values(published_at=None))
    working = runtime.publisher
    down = RabbitmqBroker(parameters=[{"host": "127.0.0.1", "port": free_port(), "connection_attempts": 1}])
    runtime.publisher = Publisher(down)
    try:
        with pytest.raises(BrokerUnavailable):
            requeue(runtime)
        # Failing again at once, without waiting for the broker's connection attempts.
        with pytest.raises(BrokerUnavailable, match="a moment ago"):
            runtime.publisher.publish_queued_messages([(ids[0], "outgoing")])
    finally:
        runtime.publisher = working
    with runtime.db.engine.connect() as conn:
        assert set(conn.scalars(select(QM.c.published_at))) == {None}
    assert requeue(runtime) == 2  # the broker is back: not five minutes later
    assert sorted(published_ids(installation)) == ids


def test_stale_locks_of_dead_workers_are_freed(installation: Installation) -> None:
    ids = queue_rows(installation, 2)
    published_ids(installation)
    runtime = installation.runtime
    now = runtime.clock()
    with runtime.db.engine.begin() as conn:
        conn.execute(
            update(QM)
            .where(QM.c.id == ids[0])
            .values(
                locked_by="dead worker",
                locked_at=now - dt.timedelta(seconds=runtime.config.worker.lease_seconds + 1),
            )
        )
        conn.execute(update(QM).where(QM.c.id == ids[1]).values(locked_by="busy worker", locked_at=now))
    assert requeue(runtime) == 1
    assert published_ids(installation) == [ids[0]]
    with runtime.db.engine.connect() as conn:
        locks = dict(conn.execute(select(QM.c.id, QM.c.locked_by)).all())
    assert locks == {ids[0]: None, ids[1]: "busy worker"}


def test_everything_due_is_published_on_restart(installation: Installation) -> None:
    ids = queue_rows(installation, 2)
    published_ids(installation)
    assert requeue(installation.runtime, republish_after=dt.timedelta(0)) == 2
    assert sorted(published_ids(installation)) == ids


def test_scheduler_lease_has_one_holder_and_passes_on_when_it_lapses(installation: Installation) -> None:
    engine = installation.runtime.db.engine
    now = installation.runtime.clock()
    ttl = dt.timedelta(seconds=60)
    assert leases.acquire(engine, "scheduler", "a", now, ttl)
    assert not leases.acquire(engine, "scheduler", "b", now, ttl)
    assert leases.acquire(engine, "scheduler", "a", now + dt.timedelta(seconds=30), ttl)  # renewal
    assert not leases.acquire(engine, "scheduler", "b", now + dt.timedelta(seconds=60), ttl)
    assert leases.acquire(engine, "scheduler", "b", now + dt.timedelta(seconds=91), ttl)  # a stopped renewing
    leases.release(engine, "scheduler", "b")
    assert leases.acquire(engine, "scheduler", "a", now + dt.timedelta(seconds=92), ttl)


def test_a_run_past_its_budget_ends_after_a_batch_and_the_next_run_goes_on(
    installation: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requeuer, "BATCH", 2)
    ids = queue_rows(installation, 5)
    published_ids(installation)
    runtime = installation.runtime
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).values(published_at=None))
    assert [requeue(runtime, budget_seconds=0) for _ in range(4)] == [2, 2, 1, 0]
    assert published_ids(installation) == ids  # the oldest first


def test_a_run_told_to_stop_publishes_nothing_more(installation: Installation) -> None:
    queue_rows(installation, 2)
    published_ids(installation)
    runtime = installation.runtime
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).values(published_at=None))
    stop = threading.Event()
    stop.set()
    assert requeue(runtime, stop=stop) == 0
    assert requeue(runtime) == 2


def test_never_published_rows_go_before_stale_ones(installation: Installation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requeuer, "BATCH", 1)
    ids = queue_rows(installation, 2)
    published_ids(installation)
    runtime = installation.runtime
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == ids[0]).values(published_at=runtime.clock() - dt.timedelta(hours=1)))
        conn.execute(update(QM).where(QM.c.id == ids[1]).values(published_at=None))
    assert requeue(runtime, budget_seconds=0) == 1
    assert published_ids(installation) == [ids[1]]
    assert requeue(runtime, budget_seconds=0) == 1
    assert published_ids(installation) == [ids[0]]
