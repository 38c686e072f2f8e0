"""The SMTP server over a real socket: AUTH, the sender-domain rule, and store-before-250."""

from __future__ import annotations

import base64
import smtplib
import threading

import pytest
from sqlalchemy import func, select

from core.broker import ACTOR_PROCESS_QUEUED_MESSAGE, QUEUE_OUTGOING
from models.base import table
from models.message.message import Message
from models.queued_message import QueuedMessage
from tests.conftest import Installation

MESSAGE = (
    b"From: Shop <orders@example.com>\r\nTo: customer@example.net\r\nSubject: Order shipped\r\n"
    b"Message-ID: <abc-123@example.com>\r\n\r\nYour order has shipped.\r\n"
)


def connect(port: int) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=20)
    client.ehlo("client.test")
    return client


def test_greeting_names_the_host_like_postal(smtp_port: int) -> None:
    client = smtplib.SMTP(timeout=10)
    code, banner = client.connect("127.0.0.1", smtp_port)
    assert code == 220
    text = banner.decode()
    assert text.startswith("postal.test ESMTP Postal/") and len(text.split("/")[-1]) == 6
    client.quit()


def test_auth_plain_grants_access_for_the_server(installation: Installation, smtp_port: int) -> None:
    with connect(smtp_port) as client:
        token = base64.b64encode(f"\0{installation.server_ref}\0{installation.smtp_key}".encode()).decode()
        code, text = client.docmd("AUTH", f"PLAIN {token}")
        assert (code, text) == (235, b"2.7.0 Granted for acme/main")


def test_auth_login_grants_access(installation: Installation, smtp_port: int) -> None:
    with connect(smtp_port) as client:
        assert client.docmd("AUTH", "LOGIN") == (334, b"VXNlcm5hbWU6")
        assert client.docmd(base64.b64encode(b"anything").decode()) == (334, b"UGFzc3dvcmQ6")
        assert client.docmd(base64.b64encode(installation.smtp_key.encode()).decode()) == (
            235,
            b"2.7.0 Granted for acme/main",
        )


@pytest.mark.parametrize("key_kind", ["wrong", "api"])
def test_auth_with_anything_but_an_smtp_credential_is_refused(
    installation: Installation, smtp_port: int, key_kind: str
) -> None:
    key = installation.api_key if key_kind == "api" else "not-a-key"
    with connect(smtp_port) as client:
        token = base64.b64encode(f"\0user\0{key}".encode()).decode()
        assert client.docmd("AUTH", f"PLAIN {token}") == (535, b"5.7.8 Invalid credential")


def test_auth_plain_protocol_error(smtp_port: int) -> None:
    with connect(smtp_port) as client:
        token = base64.b64encode(b"no-separators").decode()
        assert client.docmd("AUTH", f"PLAIN {token}") == (535, b"5.7.8 Authenticated failed - protocol error")


def test_unauthenticated_mail_for_elsewhere_is_refused(smtp_port: int) -> None:
    with connect(smtp_port) as client:
        assert client.docmd("MAIL", "FROM:<spammer@example.org>")[0] == 250
        assert client.docmd("RCPT", "TO:<victim@example.net>") == (530, b"5.7.0 Authentication required")


def test_from_must_be_a_verified_domain_of_the_server(installation: Installation, smtp_port: int) -> None:
    with connect(smtp_port) as client:
        client.login(installation.server_ref, installation.smtp_key)
        forged = MESSAGE.replace(b"orders@example.com", b"ceo@bank.example")
        with pytest.raises(smtplib.SMTPDataError) as error:
            client.sendmail("orders@example.com", ["customer@example.net"], forged)
        assert (error.value.smtp_code, error.value.smtp_error) == (530, b"5.7.1 From/Sender name is not valid")
    assert _count(installation, Message) == 0


def test_accepted_message_is_stored_and_queued_before_250(installation: Installation, smtp_port: int) -> None:
    published: list[object] = []
    broker = installation.runtime.require_publisher().broker
    original = broker.enqueue

    def spy(message: object, **kwargs: object) -> object:
        published.append(message)
        return original(message, **kwargs)  # type: ignore[arg-type]

    broker.enqueue = spy  # type: ignore[method-assign]
    with connect(smtp_port) as client:
        client.login(installation.server_ref, installation.smtp_key)
        refused = client.sendmail(
            "orders@example.com", ["customer@example.net", "other@example.net", "customer@example.net"], MESSAGE
        )
        assert refused == {}
        # The moment DATA is answered, both messages and their queue rows exist.
        assert _count(installation, Message) == 2
        assert _count(installation, QueuedMessage) == 2

    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        rows = conn.execute(select(table(Message)).order_by(table(Message).c.id)).mappings().all()
    assert [r["rcpt_to"] for r in rows] == ["customer@example.net", "other@example.net"]
    assert all(r["status"] == "Pending" and r["scope"] == "outgoing" for r in rows)
    assert all(r["mail_from"] == "orders@example.com" and r["subject"] == "Order shipped" for r in rows)
    assert rows[0]["message_id"] == "abc-123@example.com"
    assert rows[0]["raw_table"] == rows[1]["raw_table"] and rows[0]["raw_body_id"] == rows[1]["raw_body_id"]
    # One job for both: messages accepted together are delivered by one job.
    assert [(m.queue_name, m.actor_name, len(m.args[0])) for m in published] == [  # type: ignore[attr-defined]
        (QUEUE_OUTGOING, ACTOR_PROCESS_QUEUED_MESSAGE, 2)
    ]


def test_received_header_is_added(installation: Installation, smtp_port: int) -> None:
    with connect(smtp_port) as client:
        client.login(installation.server_ref, installation.smtp_key)
        client.sendmail("orders@example.com", ["customer@example.net"], MESSAGE)
    from core.messages.raw_store import load_raw_message
    from core.messages.view import ParsedMessage

    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        row = conn.execute(select(table(Message))).mappings().one()
        raw = load_raw_message(conn, row["raw_table"], row["raw_headers_id"], row["raw_body_id"])
    assert raw is not None
    received = ParsedMessage(raw).headers["received"][0]
    assert received.startswith("from client.test (127.0.0.1 [127.0.0.1]) by postal.test with SMTP; ")
    assert raw.endswith(b"\r\n\r\nYour order has shipped.\r\n")


def test_message_id_and_date_are_added_when_missing(installation: Installation, smtp_port: int) -> None:
    bare = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: x\r\n\r\nHello\r\n"
    with connect(smtp_port) as client:
        client.login(installation.server_ref, installation.smtp_key)
        client.sendmail("orders@example.com", ["customer@example.net"], bare)
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        row = conn.execute(select(table(Message))).mappings().one()
    assert row["message_id"].endswith("@rp.postal.test")


def test_concurrent_sessions_are_all_stored(installation: Installation, smtp_port: int) -> None:
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            with connect(smtp_port) as client:
                client.login(installation.server_ref, installation.smtp_key)
                for i in range(5):
                    client.sendmail("orders@example.com", [f"c{n}-{i}@example.net"], MESSAGE)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(installation, Message) == 40
    assert _count(installation, QueuedMessage) == 40


def _count(installation: Installation, model: type) -> int:
    runtime = installation.runtime
    if model is QueuedMessage:
        with runtime.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(QueuedMessage)) or 0)
    mdb = runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table(model))).scalar() or 0)
