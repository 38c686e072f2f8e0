"""Daily message retention (reference §8): raw tables by age and by size, metadata by age; queued
and held messages, and the raw tables they need, stay."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import insert, inspect, select, update

from core.jobs.maintenance import run_task
from core.jobs.retention import MB
from core.messages.raw_store import load_raw_message
from models.base import table
from models.enums import ServerMode
from models.message.delivery import Delivery
from models.message.link import Click, Link, Load
from models.message.message import Message
from models.message.raw import RawMessageSize, raw_table_name
from models.message.spam_check import SpamCheck
from tests.conftest import Installation
from tests.support.outgoing import QM, change_server, run_queue, send
from tests.support.smtp_sink import SMTPSink

MESSAGES = table(Message)
TODAY = dt.datetime.now(dt.UTC).date()


def day(offset: int) -> dt.date:
    """`offset` days before today (UTC)."""
    return TODAY - dt.timedelta(days=offset)


def sent_on(installation: Installation, when: dt.date, *rcpts: str, body: bytes = b"Hello\r\n") -> list[int]:
    """Submit a message as if on `when` at noon (its raw data in that day's table) and return
    its message ids; still queued."""
    noon = dt.datetime.combine(when, dt.time(12))
    runtime = installation.runtime
    raw = b"From: Shop <orders@example.com>\r\nTo: c@example.net\r\nSubject: Hi\r\n\r\n" + body
    runtime.clock = lambda: noon
    try:
        queued_ids = send(installation, *rcpts, raw=raw)
    finally:
        runtime.clock = lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with runtime.db.engine.connect() as conn:
        ids = list(conn.scalars(select(QM.c.message_id).where(QM.c.id.in_(queued_ids)).order_by(QM.c.id)))
    with runtime.message_dbs.get(installation.server_id).transaction() as conn:
        conn.execute(
            update(MESSAGES).where(MESSAGES.c.id.in_(ids)).values(timestamp=noon.replace(tzinfo=dt.UTC).timestamp())
        )
    return ids


def kilobytes(size: int) -> bytes:
    """A body of `size` kB in lines SMTP allows (RFC 5321 §4.5.3.1.6: 1000 octets with CRLF)."""
    return (b"x" * 510 + b"\r\n") * (2 * size)


def rows(installation: Installation) -> dict[int, dict[str, object]]:
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        return {row.id: dict(row._mapping) for row in conn.execute(select(MESSAGES))}


def raw_tables(installation: Installation) -> list[str]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        names = inspect(conn).get_table_names(schema=None if mdb.is_sqlite else mdb.name)
    return sorted(name for name in names if name.startswith("raw-"))


def raw_of(installation: Installation, message_id: int) -> bytes | None:
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).one()
        return load_raw_message(conn, row.raw_table, row.raw_headers_id, row.raw_body_id)


def ids_in(installation: Installation, model: type) -> list[int]:
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        return sorted(conn.scalars(select(table(model).c.message_id)))


def track(installation: Installation, message_id: int) -> None:
    """A link, a click, an open and a spam check recorded for the message."""
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        link = conn.execute(
            insert(table(Link)).values(message_id=message_id, token="t", hash="h", url="https://x.example", timestamp=1)
        ).inserted_primary_key[0]
        conn.execute(insert(table(Click)).values(message_id=message_id, link_id=link, timestamp=1))
        conn.execute(insert(table(Load)).values(message_id=message_id, timestamp=1))
        conn.execute(insert(table(SpamCheck)).values(message_id=message_id, score=1.5, code="X"))


@pytest.fixture
def retention_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="core.jobs.retention"):
        yield caplog


def test_old_raw_tables_and_old_metadata_are_removed_exactly(
    installation: Installation, smtp_sink: SMTPSink, retention_log: pytest.LogCaptureFixture
) -> None:
    # Given a server keeping 10 days of messages and 5 days of raw data, with mail of 4 days
    change_server(installation, message_retention_days=10, raw_message_retention_days=5)
    [ten] = sent_on(installation, day(10), "a@example.net")
    [nine] = sent_on(installation, day(9), "b@example.net")
    [six] = sent_on(installation, day(6), "c@example.net")
    [five] = sent_on(installation, day(5), "d@example.net")
    run_queue(installation)  # all delivered: nothing queued any more
    for message_id in (ten, nine):
        track(installation, message_id)

    # When retention runs
    count = run_task(installation.runtime, "process_message_retention")

    # Then raw tables older than 5 days are gone and metadata of the 10th day back with them
    assert raw_tables(installation) == [raw_table_name(day(5))]
    left = rows(installation)
    assert sorted(left) == [nine, six, five]
    assert count == 3 + 1  # raw-(10, 9, 6 days ago) dropped, one message deleted
    for model in (Delivery, Link, Click, Load):
        assert ten not in ids_in(installation, model)
    assert ids_in(installation, SpamCheck) == [nine]
    # Messages whose raw data went know it: no table, no size, and no raw message to load.
    for message_id in (nine, six):
        assert (left[message_id]["raw_table"], left[message_id]["size"]) == (None, None)
        assert raw_of(installation, message_id) is None
    assert left[five]["status"] == "Sent" and raw_of(installation, five) is not None
    assert left[nine]["status"] == "Sent" and ids_in(installation, Delivery).count(nine) >= 1
    progress = [r.getMessage() for r in retention_log.records if "retention of server acme/main" in r.getMessage()]
    assert progress and "3 raw tables dropped" in progress[0] and "1 messages deleted" in progress[0]


def test_queued_and_held_messages_and_their_raw_tables_are_kept(
    installation: Installation, smtp_sink: SMTPSink, retention_log: pytest.LogCaptureFixture
) -> None:
    # Given, in one table from 40 days ago, a message waiting for a retry and a delivered one,
    # and in another a held message
    runtime = installation.runtime
    change_server(installation, message_retention_days=30, raw_message_retention_days=30)
    retrying, delivered = sent_on(installation, day(40), "retry@example.net", "done@example.net")
    with runtime.db.engine.begin() as conn:
        conn.execute(
            update(QM)
            .where(QM.c.message_id == retrying)
            .values(retry_after=runtime.clock() + dt.timedelta(hours=1), attempts=3)
        )
    run_queue(installation)  # delivers the other one only
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    [held] = sent_on(installation, day(39), "held@example.net")
    run_queue(installation)
    change_server(installation, mode=ServerMode.LIVE)
    assert rows(installation)[held]["held"] is True

    # When retention runs
    run_task(runtime, "process_message_retention")

    # Then the queued and the held messages and their tables stay; the delivered one goes
    assert delivered not in rows(installation)
    assert sorted(rows(installation)) == [retrying, held]
    assert raw_tables(installation) == [raw_table_name(day(40)), raw_table_name(day(39))]
    assert raw_of(installation, retrying) is not None and raw_of(installation, held) is not None
    text = retention_log.text
    assert f"raw table {raw_table_name(day(40))}" in text and "needed by 1 queued message" in text
    assert f"raw table {raw_table_name(day(39))}" in text and "needed by 1 held message" in text

    # When the retry is done and the hold cancelled, the next run removes them too
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.message_id == retrying).values(retry_after=None))
    run_queue(installation)
    with runtime.message_dbs.get(installation.server_id).transaction() as conn:
        conn.execute(update(MESSAGES).where(MESSAGES.c.id == held).values(hold_expiry=1))
    run_task(runtime, "expire_held_messages")
    run_task(runtime, "process_message_retention")
    assert rows(installation) == {}
    assert raw_tables(installation) == []


def test_raw_data_is_dropped_oldest_first_down_to_the_size_limit(
    installation: Installation, smtp_sink: SMTPSink, retention_log: pytest.LogCaptureFixture
) -> None:
    # Given 1 MB allowed and five days of 400 kB each: the oldest still needed by a retry, and today's
    change_server(installation, raw_message_retention_days=365, raw_message_retention_size=1)
    big = kilobytes(400)
    [oldest] = sent_on(installation, day(4), "a@example.net", body=big)
    for offset in (3, 2, 1):
        sent_on(installation, day(offset), "b@example.net", body=big)
    sent_on(installation, day(0), "c@example.net", body=big)
    runtime = installation.runtime
    with runtime.db.engine.begin() as conn:
        conn.execute(
            update(QM).where(QM.c.message_id == oldest).values(retry_after=runtime.clock() + dt.timedelta(hours=1))
        )
    run_queue(installation)

    # When retention runs
    run_task(runtime, "process_message_retention")

    # Then the oldest tables that may go, go, until what is left fits; the needed one stays
    assert raw_tables(installation) == [raw_table_name(day(4)), raw_table_name(day(0))]
    with runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        sizes = dict(conn.execute(select(table(RawMessageSize).c.table_name, table(RawMessageSize).c.size)).all())
    assert set(sizes) == {raw_table_name(day(4)), raw_table_name(day(0))}
    assert 2 * 400 * 1024 < sum(sizes.values()) <= 1 * MB
    assert f"raw table {raw_table_name(day(4))}" in retention_log.text
    assert raw_of(installation, oldest) is not None


def test_what_cannot_go_is_kept_over_the_size_limit_and_said(
    installation: Installation, smtp_sink: SMTPSink, retention_log: pytest.LogCaptureFixture
) -> None:
    # Given 1 MB allowed, a held message of 800 kB from yesterday and today's mail of 400 kB
    change_server(installation, raw_message_retention_size=1, mode=ServerMode.DEVELOPMENT)
    [held] = sent_on(installation, day(1), "a@example.net", body=kilobytes(800))
    sent_on(installation, day(0), "b@example.net", body=kilobytes(400))
    run_queue(installation)

    # When retention runs
    assert run_task(installation.runtime, "process_message_retention") == 0

    # Then both stay, and the log says why
    assert raw_tables(installation) == [raw_table_name(day(1)), raw_table_name(day(0))]
    assert raw_of(installation, held) is not None
    assert "over its 1.0 MB limit" in retention_log.text


def test_retention_is_idempotent_and_finishes_an_interrupted_run(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    # Given old mail, and what an interrupted run leaves: a size row of a table already dropped,
    # and a table whose messages were already detached from it
    change_server(installation, message_retention_days=30, raw_message_retention_days=7)
    [old] = sent_on(installation, day(31), "a@example.net")
    [detached] = sent_on(installation, day(8), "b@example.net")
    [recent] = sent_on(installation, day(1), "c@example.net")
    run_queue(installation)
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        conn.execute(insert(table(RawMessageSize)).values(table_name="raw-2001-01-01", size=5 * MB))
        conn.execute(update(MESSAGES).where(MESSAGES.c.id == detached).values(raw_table=None, size=None))

    # When retention runs twice
    first = run_task(installation.runtime, "process_message_retention")
    after_first = (rows(installation), raw_tables(installation))
    second = run_task(installation.runtime, "process_message_retention")

    # Then the first run did everything and the second nothing
    assert first == 2 + 1 and second == 0
    assert (rows(installation), raw_tables(installation)) == after_first
    assert sorted(after_first[0]) == [detached, recent]
    assert old not in after_first[0]
    assert after_first[1] == [raw_table_name(day(1))]
    with mdb.engine.connect() as conn:
        assert list(conn.scalars(select(table(RawMessageSize).c.table_name))) == [raw_table_name(day(1))]
