"""When a database or the broker is down, the SMTP server never loses a message it accepted."""

from __future__ import annotations

import smtplib

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import func, select

from core.broker import Publisher
from core.config import replace
from core.message_db import MessageDatabases
from models.base import table
from models.queued_message import QueuedMessage
from scheduler.requeuer import requeue
from tests.conftest import Backend, Installation
from tests.support.processes import free_port

MESSAGE = b"From: orders@example.com\r\nTo: c@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"
QM = table(QueuedMessage)


def send(installation: Installation, port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.login(installation.server_ref, installation.smtp_key)
        client.sendmail("orders@example.com", ["c@example.net"], MESSAGE)


def test_an_unreachable_message_database_is_a_temporary_error(
    installation: Installation, backend: Backend, smtp_port: int
) -> None:
    runtime = installation.runtime
    good = runtime.message_dbs
    if backend.external:
        broken = replace(runtime.config, message_db={"host": "127.0.0.1", "port": free_port()})
    else:
        broken = replace(runtime.config, postal={"data_dir": "/proc/no-such-directory"})
    runtime.message_dbs = MessageDatabases(broken)
    try:
        with pytest.raises(smtplib.SMTPDataError) as error:
            send(installation, smtp_port)
        assert error.value.smtp_code == 451  # the client keeps the message and tries again
        with runtime.db.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(QM)).scalar() == 0
    finally:
        runtime.message_dbs.dispose()
        runtime.message_dbs = good
    send(installation, smtp_port)  # and once the database is back, it goes through


def test_a_broker_that_is_down_loses_nothing(installation: Installation, smtp_port: int) -> None:
    runtime = installation.runtime
    working = runtime.publisher
    down = RabbitmqBroker(parameters=[{"host": "127.0.0.1", "port": free_port(), "connection_attempts": 1}])
    runtime.publisher = Publisher(down)
    try:
        send(installation, smtp_port)  # accepted although the job could not be published
    finally:
        runtime.publisher = working
    with runtime.db.engine.connect() as conn:
        row = conn.execute(select(QM)).mappings().one()
    assert row["published_at"] is None
    # The requeuer publishes it as soon as it runs.
    assert requeue(runtime) == 1
