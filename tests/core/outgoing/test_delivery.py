"""The outgoing pipeline (reference §3.2-3.3, §3.8) from a queued row to a recorded delivery."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time

import pytest
from sqlalchemy import update

from core.jobs import dequeue
from core.jobs.dequeue import process_queued_message
from core.messages import suppressions
from core.outgoing import pipeline
from models.base import table
from models.domain import Domain
from models.enums import DNSStatus
from models.message.message import Message
from models.organization import Organization
from models.server import Server
from tests.conftest import Installation
from tests.support.dns_server import Zone
from tests.support.outgoing import QM, message, queued, send
from tests.support.processes import free_port
from tests.support.smtp_sink import SMTPSink


def test_queued_message_is_delivered_and_dequeued(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    process_queued_message(installation.runtime, qid)

    msg = message(installation)
    assert msg["status"] == "Sent" and msg["held"] is False and msg["last_delivery_attempt"]
    [d] = msg["deliveries"]
    assert d["status"] == "Sent" and d["output"] == "250 2.0.0 Ok: queued" and d["log_id"]
    assert d["details"] == f"Message for c@example.net accepted by 127.0.0.1:{smtp_sink.port} (mx.example.net)"
    assert queued(installation, qid) is None
    [received] = smtp_sink.messages
    # VERP: the message token after the server token links a bounce to this message.
    return_path = f"{installation.server_token}+{message(installation)['token']}@rp.postal.test"
    assert received.mail_from == return_path
    assert received.data.startswith(f"Resent-Sender: {return_path}\r\n".encode())


def test_return_path_uses_the_domains_own_cname_when_it_checks_out(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    with installation.runtime.db.transaction() as session:
        session.execute(update(Domain).values(return_path_status=DNSStatus.OK))
    installation.runtime.servers.forget()  # the cache would hide the change for a few seconds
    [qid] = send(installation, "c@example.net")
    process_queued_message(installation.runtime, qid)
    token = message(installation)["token"]
    assert smtp_sink.messages[0].mail_from == f"{installation.server_token}+{token}@psrp.example.com"


def test_permanent_failure_is_final(installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["c@example.net"] = "550 5.1.1 user unknown"
    [qid] = send(installation, "c@example.net")
    process_queued_message(installation.runtime, qid)
    msg = message(installation)
    assert msg["status"] == "HardFail" and msg["deliveries"][0]["output"] == "550 5.1.1 user unknown"
    assert queued(installation, qid) is None


def test_temporary_failure_is_retried_on_postals_schedule(installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["c@example.net"] = "451 4.3.0 try later"
    [qid] = send(installation, "c@example.net")
    before = installation.runtime.clock()
    process_queued_message(installation.runtime, qid)
    row = queued(installation, qid)
    assert message(installation)["status"] == "SoftFail"
    assert row["attempts"] == 1 and row["locked_at"] is None and row["published_at"] is None
    wait = (row["retry_after"] - before).total_seconds()
    assert 299 <= wait <= 305  # 5 minutes × 1.3^0

    # The next failure waits 5 min × 1.3^1
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == qid).values(retry_after=None))
    before = installation.runtime.clock()
    process_queued_message(installation.runtime, qid)
    row = queued(installation, qid)
    assert row["attempts"] == 2
    assert 389 <= (row["retry_after"] - before).total_seconds() <= 395


def test_remote_retry_hint_is_honoured(installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["c@example.net"] = "451 4.7.1 greylisted, try again in 60 seconds"
    [qid] = send(installation, "c@example.net")
    before = installation.runtime.clock()
    process_queued_message(installation.runtime, qid)
    assert 69 <= (queued(installation, qid)["retry_after"] - before).total_seconds() <= 75


def test_maximum_attempts_hard_fails(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == qid).values(attempts=18))
    process_queued_message(installation.runtime, qid)
    msg = message(installation)
    assert msg["status"] == "HardFail"
    assert msg["deliveries"][0]["details"] == (
        "Maximum number of delivery attempts (18) has been reached. "
        "Added c@example.net to suppression list because delivery has failed 18 times."
    )
    assert smtp_sink.messages == [] and queued(installation, qid) is None
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        assert suppressions.get(conn, "c@example.net", time.time()).reason == "too many soft fails"  # type: ignore[union-attr]


def test_a_duplicate_job_for_a_locked_row_does_nothing(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(
            update(QM).where(QM.c.id == qid).values(locked_by="someone else", locked_at=dt.datetime(2030, 1, 1))
        )
    process_queued_message(installation.runtime, qid)
    assert smtp_sink.messages == [] and message(installation)["status"] == "Pending"
    assert queued(installation, qid)["locked_by"] == "someone else"


def test_a_job_before_retry_after_does_nothing(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    later = installation.runtime.clock() + dt.timedelta(hours=1)
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == qid).values(retry_after=later))
    process_queued_message(installation.runtime, qid)
    row = queued(installation, qid)
    assert smtp_sink.messages == [] and row["locked_at"] is None and row["attempts"] == 0


def test_a_message_already_sent_is_never_sent_again(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        conn.execute(update(table(Message)).values(status="Sent"))
    process_queued_message(installation.runtime, qid)
    assert smtp_sink.messages == [] and queued(installation, qid) is None


def test_suspended_server_holds_mail(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    with installation.runtime.db.transaction() as session:
        session.execute(update(Organization).values(suspended_at=dt.datetime(2026, 1, 1)))
    installation.runtime.servers.forget()  # the cache would hide the change for a few seconds
    process_queued_message(installation.runtime, qid)
    msg = message(installation)
    assert msg["status"] == "Held" and msg["held"] is True and msg["hold_expiry"]
    assert msg["deliveries"][0]["details"].startswith("Mail server has been suspended.")
    assert smtp_sink.messages == []


def test_missing_raw_message_hard_fails(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        conn.execute(update(table(Message)).values(raw_table=None))
    process_queued_message(installation.runtime, qid)
    msg = message(installation)
    assert msg["status"] == "HardFail"
    assert msg["deliveries"][0]["details"] == "Raw message has been removed. Cannot send message."


def test_messages_for_the_same_destination_share_one_connection(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    ids = send(installation, "a@example.net", "b@example.net", "c@example.net")
    for qid in ids:
        process_queued_message(installation.runtime, qid)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["a@example.net", "b@example.net", "c@example.net"]
    assert smtp_sink.connections == 1
    assert all(queued(installation, qid) is None for qid in ids)
    # A second job for a finished row finds nothing to do.
    process_queued_message(installation.runtime, ids[0])
    assert len(smtp_sink.messages) == 3


def test_an_unreachable_destination_fails_its_other_messages_without_waiting(
    installation: Installation, zone: Zone
) -> None:
    zone.set("down.example", "MX", "10 mx.down.example.")
    zone.set("mx.down.example", "A", "127.0.0.1")  # nothing listens on the sink port for this test
    runtime = installation.runtime
    config = dataclasses.replace(
        runtime.config, smtp_client=dataclasses.replace(runtime.config.smtp_client, destination_port=free_port())
    )
    runtime.config = config
    ids = send(installation, "a@down.example", "b@down.example")
    for qid in ids:
        process_queued_message(runtime, qid)
    deliveries = [message(installation, i)["deliveries"] for i in (1, 2)]
    assert [d[0]["status"] for d in deliveries] == ["SoftFail", "SoftFail"]
    assert deliveries[1][0]["details"] == "No SMTP servers were available for down.example. Tried mx.down.example."
    assert [queued(installation, qid)["attempts"] for qid in ids] == [1, 1]


def test_an_unexpected_error_is_recorded_and_retried(
    installation: Installation, smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "return_path", broken)
    [qid] = send(installation, "c@example.net")
    process_queued_message(installation.runtime, qid)
    msg = message(installation)
    assert msg["status"] == "Error"
    assert msg["deliveries"][0]["details"] == (
        "An internal error occurred while sending this message. This message will be retried automatically."
    )
    assert msg["deliveries"][0]["output"] == "RuntimeError: disk on fire"
    row = queued(installation, qid)
    assert row["attempts"] == 1 and row["locked_at"] is None and row["retry_after"] is not None


def test_deleted_server_drops_its_queue_rows(installation: Installation, smtp_sink: SMTPSink) -> None:
    [qid] = send(installation, "c@example.net")
    with installation.runtime.db.transaction() as session:
        session.execute(update(Server).values(deleted_at=dt.datetime(2026, 1, 1)))
    installation.runtime.servers.forget()  # the cache would hide the change for a few seconds
    process_queued_message(installation.runtime, qid)
    assert smtp_sink.messages == [] and queued(installation, qid) is None


def test_a_failure_while_loading_is_recorded_and_retried_not_left_locked(
    installation: Installation, smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(*args: object) -> bytes:
        raise RuntimeError("storage went away")

    monkeypatch.setattr(dequeue, "load_raw_messages", unreadable)
    [qid] = send(installation, "c@example.net")
    process_queued_message(installation.runtime, qid)
    msg = message(installation)
    assert msg["status"] == "Error" and msg["deliveries"][0]["output"] == "RuntimeError: storage went away"
    row = queued(installation, qid)
    assert row["locked_by"] is None and row["attempts"] == 1 and row["retry_after"] is not None
    assert row["published_at"] is None  # the requeuer publishes it when it is due


def test_one_job_delivers_and_records_a_batch_of_mixed_outcomes(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    from core.jobs.dequeue import process_queued_messages

    smtp_sink.handler.rcpt_replies["later@example.net"] = "451 4.3.0 try later"
    smtp_sink.handler.rcpt_replies["gone@example.net"] = "550 5.1.1 unknown"
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        suppressions.add(conn, "blocked@example.net", "complained", time.time(), 30)
    ids = send(installation, "ok@example.net", "later@example.net", "gone@example.net", "blocked@example.net")
    process_queued_messages(installation.runtime, ids)
    assert [message(installation, i)["status"] for i in (1, 2, 3, 4)] == ["Sent", "SoftFail", "HardFail", "Held"]
    assert [queued(installation, qid) is None for qid in ids] == [True, False, True, True]
    assert smtp_sink.connections == 1
