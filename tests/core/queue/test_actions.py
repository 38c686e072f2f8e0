"""Release, cancel, retry and remove (reference §3.9), one at a time and in bulk by filter."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from core.queue.actions import Filter, apply, find_messages
from core.queue.queued_messages import QM
from models.enums import ServerMode
from tests.conftest import Installation
from tests.support.outgoing import change_server, message, queued_for, run_queue, send
from tests.support.smtp_sink import SMTPSink


def hold_three(installation: Installation) -> None:
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, "a@one.example", "b@one.example", "c@two.example")
    run_queue(installation)
    change_server(installation, mode=ServerMode.LIVE)


def test_bulk_release_by_recipient_domain(installation: Installation, smtp_sink: SMTPSink, zone: object) -> None:
    for domain in ("one.example", "two.example"):
        zone.mail_domain(domain)  # type: ignore[attr-defined]
    hold_three(installation)
    ids = find_messages(installation.runtime, installation.server_id, Filter(held=True, recipient_domain="one.example"))
    assert ids == [1, 2]
    results = apply(installation.runtime, installation.server_id, "release", ids)
    assert [r.done for r in results] == [True, True]
    assert queued_for(installation, 1)["manual"] is True
    run_queue(installation)
    assert [message(installation, i)["status"] for i in (1, 2, 3)] == ["Sent", "Sent", "Held"]


def test_cancel_holds(installation: Installation, smtp_sink: SMTPSink) -> None:
    hold_three(installation)
    results = apply(installation.runtime, installation.server_id, "cancel", [1, 3])
    assert [r.reason for r in results] == ["hold cancelled", "hold cancelled"]
    msg = message(installation, 1)
    assert msg["status"] == "HoldCancelled" and msg["held"] is False
    assert msg["deliveries"][-1]["details"] == "The hold on this message has been removed without action."
    # A cancelled message is no longer held: cancelling again does nothing.
    assert apply(installation.runtime, installation.server_id, "cancel", [1])[0].reason == "not held"


def test_retry_runs_a_waiting_message_now_and_requeues_a_failed_one(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    smtp_sink.handler.rcpt_replies["a@example.net"] = "451 4.3.0 later"
    smtp_sink.handler.rcpt_replies["b@example.net"] = "550 5.1.1 unknown"
    send(installation, "a@example.net", "b@example.net")
    run_queue(installation)
    assert queued_for(installation, 1)["retry_after"] is not None  # waiting for its retry
    assert queued_for(installation, 2) is None  # hard failed: off the queue
    smtp_sink.handler.rcpt_replies.clear()

    results = apply(installation.runtime, installation.server_id, "retry", [1, 2])
    assert [r.reason for r in results] == ["queued to run now", "queued to run now"]
    assert queued_for(installation, 1)["retry_after"] is None
    run_queue(installation)
    assert [message(installation, i)["status"] for i in (1, 2)] == ["Sent", "Sent"]
    # A sent message cannot be retried.
    assert (
        apply(installation.runtime, installation.server_id, "retry", [1])[0].reason == "status Sent cannot be retried"
    )


def test_remove_skips_a_message_being_processed(installation: Installation, smtp_sink: SMTPSink) -> None:
    send(installation, "a@example.net", "b@example.net")
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.message_id == 2).values(locked_by="worker", locked_at=dt.datetime.now()))
    results = apply(installation.runtime, installation.server_id, "remove", [1, 2, 99])
    assert [r.reason for r in results] == ["removed from the queue", "being processed", "no such message"]


def test_filters_by_status_and_age(installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["a@example.net"] = "451 4.3.0 later"
    send(installation, "a@example.net", "b@example.net")
    run_queue(installation)
    runtime, server_id = installation.runtime, installation.server_id
    assert find_messages(runtime, server_id, Filter(status="SoftFail")) == [1]
    assert find_messages(runtime, server_id, Filter(queued=True)) == [1]
    assert find_messages(runtime, server_id, Filter(older_than=dt.timedelta(hours=1))) == []
    assert find_messages(runtime, server_id, Filter()) == [1, 2]
