"""Every branch of the outgoing pipeline (reference §3.3), with Postal's delivery texts."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update

from core.messages import live_stats, suppressions
from core.queue.actions import apply
from core.tenancy.credentials import create_credential
from models.credential import Credential
from models.enums import CredentialType, ServerMode
from models.server import Server
from tests.conftest import Installation
from tests.support.outgoing import change_server, message, queued, run_queue, send, stored_raw
from tests.support.smtp_sink import SMTPSink


def suppress(installation: Installation, address: str, reason: str = "bounced") -> None:
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        suppressions.add(conn, address, reason, time.time(), 30)


def suppressed(installation: Installation, address: str) -> str | None:
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        entry = suppressions.get(conn, address, time.time())
    return entry.reason if entry is not None else None  # type: ignore[attr-defined]


def test_a_holding_credential_holds_its_messages_until_released(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    with installation.runtime.db.transaction() as session:
        server = session.get(Server, installation.server_id)
        credential = create_credential(session, server, CredentialType.SMTP, "held", hold=True)  # type: ignore[arg-type]
        credential_id = credential.id
    installation.runtime.servers.forget()
    [qid] = send(installation, "c@example.net", credential_id=credential_id)
    run_queue(installation)
    msg = message(installation)
    assert msg["status"] == "Held" and msg["held"] and msg["hold_expiry"] > time.time() + 6 * 86400
    assert msg["deliveries"][-1]["details"] == "Credential is configured to hold all messages authenticated by it."
    assert queued(installation, qid) is None and smtp_sink.messages == []

    [result] = apply(installation.runtime, installation.server_id, "release", [1])
    assert result.done
    run_queue(installation)
    assert message(installation)["status"] == "Sent" and len(smtp_sink.messages) == 1


def test_a_suppressed_recipient_is_held_and_leaves_the_list_when_mail_gets_through(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    suppress(installation, "C@Example.net", "too many hard fails")
    send(installation, "c@example.net")
    run_queue(installation)
    msg = message(installation)
    assert msg["status"] == "Held"
    assert msg["deliveries"][-1]["details"] == (
        "Recipient (c@example.net) is on the suppression list (reason: too many hard fails)"
    )
    # A manual release skips the check; a successful delivery takes the address off the list.
    apply(installation.runtime, installation.server_id, "release", [1])
    run_queue(installation)
    msg = message(installation)
    assert msg["status"] == "Sent"
    assert msg["deliveries"][-1]["details"].endswith(". Recipient removed from suppression list")
    assert suppressed(installation, "c@example.net") is None


def test_a_second_hard_fail_within_a_day_suppresses_the_recipient(
    installation: Installation, smtp_sink: SMTPSink
) -> None:
    smtp_sink.handler.rcpt_replies["gone@example.net"] = "550 5.1.1 user unknown"
    send(installation, "gone@example.net")
    run_queue(installation)
    assert message(installation, 1)["deliveries"][-1]["details"].startswith("Permanent SMTP delivery error")
    assert suppressed(installation, "gone@example.net") is None  # one hard fail is not enough
    send(installation, "gone@example.net")
    run_queue(installation)
    second = message(installation, 2)
    assert second["status"] == "HardFail"
    assert second["deliveries"][-1]["details"].endswith(". Recipient added to suppression list (too many hard fails)")
    assert suppressed(installation, "gone@example.net") == "too many hard fails"
    # The next message to that address is held instead of being tried.
    send(installation, "gone@example.net")
    run_queue(installation)
    assert message(installation, 3)["status"] == "Held"


def test_development_mode_holds_everything_but_manual_releases(installation: Installation, smtp_sink: SMTPSink) -> None:
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, "c@example.net")
    run_queue(installation)
    assert message(installation)["deliveries"][-1]["details"] == "Server is in development mode."
    assert smtp_sink.messages == []
    apply(installation.runtime, installation.server_id, "release", [1])
    run_queue(installation)
    assert message(installation)["status"] == "Sent"


def server_row(installation: Installation) -> Any:
    servers = Server.__table__
    with installation.runtime.db.engine.connect() as conn:
        return conn.execute(select(servers).where(servers.c.id == installation.server_id)).one()


def test_send_limit_holds_mail_over_the_last_hours_limit(installation: Installation, smtp_sink: SMTPSink) -> None:
    change_server(installation, send_limit=10)
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        live_stats.increment(conn, "outgoing", time.time(), amount=8)  # 8 sent in the last hour
    send(installation, "a@example.net")
    run_queue(installation)
    assert message(installation, 1)["status"] == "Sent"
    server = server_row(installation)
    assert server.send_limit_approaching_at is None and server.send_limit_exceeded_at is None

    send(installation, "b@example.net")  # 9 sent: 90 % of the limit, so "approaching"; still sent
    run_queue(installation)
    assert message(installation, 2)["status"] == "Sent"
    server = server_row(installation)
    assert server.send_limit_approaching_at is not None and server.send_limit_exceeded_at is None

    send(installation, "c@example.net")  # 10 sent: the limit is reached
    run_queue(installation)
    msg = message(installation, 3)
    assert msg["status"] == "Held"
    assert msg["deliveries"][-1]["details"] == "Message held because send limit (10) has been reached."
    server = server_row(installation)
    assert server.send_limit_exceeded_at is not None and server.send_limit_approaching_at is None
    assert len(smtp_sink.messages) == 2
    with mdb.engine.connect() as conn:
        assert live_stats.total(conn, "outgoing", 60, time.time()) == 10


def test_the_tag_comes_from_x_postal_tag(installation: Installation, smtp_sink: SMTPSink) -> None:
    raw = b"From: orders@example.com\r\nX-Postal-Tag: first\r\nX-Postal-Tag: welcome\r\nSubject: x\r\n\r\nHi\r\n"
    send(installation, "c@example.net", raw=raw)
    run_queue(installation)
    assert message(installation)["tag"] == "welcome"


def test_outgoing_headers_are_added_once_and_stored(installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["c@example.net"] = "451 4.3.0 try later"
    [qid] = send(installation, "c@example.net")
    run_queue(installation)
    first = stored_raw(installation)
    token = message(installation)["token"]
    assert first.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;")
    assert f"\r\nX-Postal-MsgID: {token}\r\n".encode() in first
    # A retry sends the stored, already signed message: nothing is added twice.
    del smtp_sink.handler.rcpt_replies["c@example.net"]
    with installation.runtime.db.engine.begin() as conn:
        from tests.support.outgoing import QM

        conn.execute(update(QM).where(QM.c.id == qid).values(retry_after=None))
    run_queue(installation)
    assert stored_raw(installation) == first
    assert smtp_sink.messages[0].data.count(b"DKIM-Signature:") == 1
    assert smtp_sink.messages[0].data.endswith(first)


def test_credential_hold_is_read_afresh(installation: Installation, smtp_sink: SMTPSink) -> None:
    """Unholding a credential lets its next messages through."""
    with installation.runtime.db.transaction() as session:
        server = session.get(Server, installation.server_id)
        credential = create_credential(session, server, CredentialType.SMTP, hold=True)  # type: ignore[arg-type]
        credential_id = credential.id
    installation.runtime.servers.forget()
    send(installation, "a@example.net", credential_id=credential_id)
    run_queue(installation)
    with installation.runtime.db.transaction() as session:
        session.execute(update(Credential).where(Credential.id == credential_id).values(hold=False))
    installation.runtime.servers.forget()
    send(installation, "b@example.net", credential_id=credential_id)
    run_queue(installation)
    assert [message(installation, i)["status"] for i in (1, 2)] == ["Held", "Sent"]
