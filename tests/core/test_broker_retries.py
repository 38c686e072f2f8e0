"""A job that fails because the database cannot be reached runs again by itself; a job that fails
for any other reason does not (retry timing of messages lives in the database)."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from sqlalchemy.exc import OperationalError

from core import broker as broker_module
from core.errors import DatabaseUnavailable


@pytest.fixture
def stub() -> Iterator[StubBroker]:
    broker = StubBroker(middleware=broker_module._middleware())
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    yield broker
    worker.stop()
    broker.close()


def run_actor(broker: StubBroker, failures: list[Exception]) -> list[int]:
    calls: list[int] = []

    def job() -> None:
        calls.append(len(calls))
        if failures:
            raise failures.pop(0)

    actor: dramatiq.Actor[[], None] = dramatiq.Actor(
        job, broker=broker, actor_name=f"job_{id(failures)}", queue_name="default", priority=0, options={}
    )
    actor.send()
    broker.join("default", fail_fast=False)
    broker.join("default.DQ", fail_fast=False)
    broker.join("default", fail_fast=False)
    return calls


def test_a_job_that_could_not_reach_the_database_runs_again(stub: StubBroker) -> None:
    down = OperationalError("SELECT 1", {}, Exception('(2002, "Can\'t connect to server")'))
    calls = run_actor(stub, [down, DatabaseUnavailable("Cannot connect to MariaDB")])
    assert calls == [0, 1, 2]


def test_a_job_that_fails_otherwise_is_not_run_again(stub: StubBroker) -> None:
    calls = run_actor(stub, [ValueError("a bug")])
    assert calls == [0]


def test_the_database_retries_have_a_limit() -> None:
    middleware = broker_module.RetryWhenDatabaseUnreachable()
    down = DatabaseUnavailable("down")
    assert middleware._retry_when(0, down)
    assert not middleware._retry_when(broker_module.DATABASE_RETRIES, down)
    assert not middleware._retry_when(0, RuntimeError("other"))
