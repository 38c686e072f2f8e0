"""`postal message show` data: API v1 `messages/message` with every expansion, deliveries, queue."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage

from sqlalchemy import select

from core.jobs.dequeue import process_queued_message
from core.messages.view import EXPANSIONS, deliveries_data, find_message, message_data, queue_data
from core.outgoing.submission import Submission, submit
from models.queued_message import QueuedMessage
from tests.conftest import Installation
from tests.support.smtp_sink import SMTPSink


def multipart() -> bytes:
    message = EmailMessage()
    message["From"] = "Shop <orders@example.com>"
    message["To"] = "c@example.net"
    message["Subject"] = "Grüße"
    message["Message-ID"] = "<order-1@example.com>"
    message.set_content("Plain text")
    message.add_alternative("<p>HTML text</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes().replace(b"\n", b"\r\n")


def test_every_expansion_and_the_deliveries(installation: Installation, smtp_sink: SMTPSink) -> None:
    runtime = installation.runtime
    raw = multipart()
    accepted = submit(
        runtime,
        Submission(
            server_id=installation.server_id,
            mail_from="orders@example.com",
            rcpt_to=["c@example.net"],
            raw=raw,
            tag="orders",
        ),
    )
    _, message_id, token = accepted.messages[0]
    mdb = runtime.message_dbs.get(installation.server_id)
    with runtime.db.transaction() as session:
        row = session.scalar(select(QueuedMessage))
        assert queue_data(row) == {"attempts": 0, "retry_after": None, "locked": False}
        queued_id = row.id  # type: ignore[union-attr]

    process_queued_message(runtime, queued_id)
    with mdb.engine.connect() as conn:
        message = find_message(conn, token)
        assert find_message(conn, str(message_id)).token == token
        data = message_data(conn, message, True)
        deliveries = deliveries_data(conn, message.id)

    assert set(data) == {"id", "token", *EXPANSIONS}
    assert (data["id"], data["token"]) == (message_id, token)
    assert data["status"]["status"] == "Sent" and data["status"]["held"] is False
    assert isinstance(data["status"]["last_delivery_attempt"], float)
    details = data["details"]
    assert details["rcpt_to"] == "c@example.net" and details["mail_from"] == "orders@example.com"
    assert details["subject"] == "Grüße" and details["message_id"] == "order-1@example.com"
    assert details["direction"] == "outgoing" and details["tag"] == "orders"
    assert details["bounce"] is False and details["bounce_for_id"] == 0
    assert data["inspection"] == {
        "inspected": False,
        "spam": False,
        "spam_score": 0.0,
        "threat": False,
        "threat_details": None,
    }
    assert data["plain_body"].strip() == "Plain text"
    assert data["html_body"].strip() == "<p>HTML text</p>"
    [attachment] = data["attachments"]
    assert attachment == {
        "filename": "invoice.pdf",
        "content_type": "application/pdf",
        "data": base64.b64encode(b"%PDF-1.4 data").decode(),
        "size": 13,
        "hash": hashlib.sha1(b"%PDF-1.4 data").hexdigest(),
    }
    assert data["headers"]["subject"] == ["Grüße"] and "received" not in data["headers"]
    assert base64.b64decode(data["raw_message"]).endswith(raw.split(b"\r\n\r\n", 1)[1])
    assert data["activity_entries"] == {"loads": [], "clicks": []}
    [d] = deliveries
    assert set(d) == {"id", "status", "details", "output", "sent_with_ssl", "log_id", "time", "timestamp"}
    assert d["status"] == "Sent" and d["sent_with_ssl"] is False


def test_only_the_requested_expansions(installation: Installation) -> None:
    runtime = installation.runtime
    accepted = submit(
        runtime,
        Submission(
            server_id=installation.server_id, mail_from="o@example.com", rcpt_to=["c@example.net"], raw=multipart()
        ),
    )
    mdb = runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        message = find_message(conn, accepted.messages[0][1])
        assert set(message_data(conn, message, ["status"])) == {"id", "token", "status"}
        assert set(message_data(conn, message, [])) == {"id", "token"}
