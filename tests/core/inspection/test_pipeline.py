"""Spam and virus inspection in the pipelines (reference §4.2 steps 3-7, §3.3 step 6), against the
real spamd and clamd: the X-Postal-Spam headers, stored checks, each spam mode of a route, the
failure threshold, threats, and the outbound spam threshold."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from models.base import table
from models.message.spam_check import SpamCheck
from tests.conftest import Installation, merge
from tests.support.http_receiver import HTTPReceiver
from tests.support.incoming import http_endpoint, queued_row, receive, route
from tests.support.outgoing import change_server, message, run_queue, send, stored_raw
from tests.support.smtp_sink import SMTPSink
from tests.support.spam_daemons import EICAR, GTUBE, Daemon

SPAM = (
    b"From: Sender <sender@example.net>\r\nTo: support@example.com\r\nSubject: Offer\r\n\r\n" + GTUBE.encode() + b"\r\n"
)
VIRUS = (
    b"From: Sender <sender@example.net>\r\nTo: support@example.com\r\nSubject: Invoice\r\n\r\n"
    + EICAR.encode()
    + b"\r\n"
)


@pytest.fixture
def config_data(config_data: dict[str, Any], spamd_daemon: Daemon, clamd_daemon: Daemon) -> dict[str, Any]:
    return merge(
        config_data,
        {
            "spamd": {"enabled": True, "host": spamd_daemon.host, "port": spamd_daemon.port},
            "clamav": {"enabled": True, "host": clamd_daemon.host, "port": clamd_daemon.port},
        },
    )


@pytest.fixture
def receiver() -> Any:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def process(installation: Installation, message_id: int) -> dict[str, Any]:
    from core.jobs.dequeue import process_queued_message

    process_queued_message(installation.runtime, queued_row(installation, message_id)["id"])
    return message(installation, message_id)


def checks(installation: Installation, message_id: int) -> list[str]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        t = table(SpamCheck)
        return list(conn.scalars(select(t.c.code).where(t.c.message_id == message_id)))


def test_spam_is_marked_and_delivered(installation: Installation, receiver: HTTPReceiver) -> None:
    change_server(installation, spam_failure_threshold=5000)
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com", SPAM)
    found = process(installation, mid)
    assert found["status"] == "Sent" and found["inspected"] and found["spam"] and found["spam_score"] > 5
    assert not found["threat"] and found["threat_details"] == "No threats found"
    assert "GTUBE" in checks(installation, mid)
    raw = stored_raw(installation, mid)
    assert raw.startswith(b"X-Postal-Spam: yes\r\nX-Postal-Spam-Threshold: 5.0\r\nX-Postal-Spam-Score: ")
    assert b"X-Postal-Threat: no\r\n" in raw.split(b"\r\n\r\n")[0]
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["spam_status"] == "Spam"


def test_clean_mail_is_not_spam(installation: Installation, receiver: HTTPReceiver) -> None:
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "Sent" and found["inspected"] and not found["spam"]
    assert stored_raw(installation, mid).startswith(b"X-Postal-Spam: no\r\n")
    assert json.loads(receiver.wait_for(1)[0].body)["spam_status"] == "NotSpam"


def test_quarantine_holds_spam(installation: Installation) -> None:
    change_server(installation, spam_failure_threshold=5000)
    route(installation, "support@example.com", mode="Accept", spam_mode="Quarantine")
    [mid] = receive(installation, "support@example.com", SPAM)
    found = process(installation, mid)
    assert found["status"] == "Held" and found["deliveries"][-1]["details"] == "Message placed into quarantine."


def test_fail_mode_fails_spam(installation: Installation) -> None:
    change_server(installation, spam_failure_threshold=5000)
    route(installation, "support@example.com", mode="Accept", spam_mode="Fail")
    [mid] = receive(installation, "support@example.com", SPAM)
    found = process(installation, mid)
    assert found["status"] == "HardFail"
    assert found["deliveries"][-1]["details"].startswith("Message is spam and the route specifies it should be failed.")


def test_a_score_over_the_failure_threshold_fails(installation: Installation) -> None:
    route(installation, "support@example.com", mode="Accept")
    [mid] = receive(installation, "support@example.com", SPAM)
    found = process(installation, mid)
    assert found["status"] == "HardFail"
    assert found["deliveries"][-1]["details"].startswith(
        "Message's spam score is higher than the failure threshold for this server. Threshold is currently 20.0."
    )


def test_a_virus_is_marked_but_still_delivered(installation: Installation) -> None:
    route(installation, "support@example.com", mode="Accept")
    [mid] = receive(installation, "support@example.com", VIRUS)
    found = process(installation, mid)
    assert found["status"] == "Processed" and found["threat"]
    assert "EICAR" in (found["threat_details"] or "")
    assert b"X-Postal-Threat: yes\r\n" in stored_raw(installation, mid)


def test_outbound_spam_threshold(installation: Installation, smtp_sink: SMTPSink) -> None:
    change_server(installation, outbound_spam_threshold=5.0)
    spam = b"From: Shop <orders@example.com>\r\nTo: c@example.net\r\nSubject: Offer\r\n\r\n" + GTUBE.encode() + b"\r\n"
    send(installation, "c@example.net", raw=spam)
    send(installation, "d@example.net")
    run_queue(installation)
    first, second = message(installation, 1), message(installation, 2)
    assert first["status"] == "HardFail" and first["inspected"]
    assert first["deliveries"][-1]["details"].startswith(
        "Message is likely spam. Threshold is 5.0 and the message scored "
    )
    assert second["status"] == "Sent" and second["inspected"]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["d@example.net"]]
