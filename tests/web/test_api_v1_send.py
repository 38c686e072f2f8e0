"""`send/message` and `send/raw` over HTTP: Postal's validation order and texts, the stored rows,
and the MIME message that reaches the remote MX."""

from __future__ import annotations

import base64
import email
import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from core.queue.enqueue import TemporaryFailure
from models.base import table
from models.message.message import Message
from tests.conftest import Installation
from tests.support.outgoing import change_server, run_queue, stored_raw
from tests.support.smtp_sink import SMTPSink
from tests.web.test_api_v1 import APIClient, serve
from web.api_v1.send import _api_error, decode_base64

MESSAGES = table(Message)
PDF = b"%PDF-1.4\x00\xff\xfe binary \r\n data" * 50


@pytest.fixture
def api(installation: Installation) -> Iterator[APIClient]:
    with serve(installation) as client:
        yield client


def stored(installation: Installation) -> list[Any]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        return list(conn.execute(select(MESSAGES).order_by(MESSAGES.c.id)).mappings())


def count(installation: Installation) -> int:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(MESSAGES)) or 0)


def api_credential_id(installation: Installation) -> int:
    from models.credential import Credential

    with installation.runtime.db.engine.connect() as conn:
        found = conn.scalar(select(table(Credential).c.id).where(table(Credential).c.key == installation.api_key))
    assert found is not None
    return int(found)


def text(part: Any) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


BASIC = {"to": ["c@example.net"], "from": "orders@example.com", "plain_body": "Hello"}


# -- send/message --------------------------------------------------------------------------------


def test_send_message_delivers_a_correct_mime_message(
    installation: Installation, api: APIClient, smtp_sink: SMTPSink
) -> None:
    params = {
        "to": ["Jürgen Müller <juergen@example.net>", "c@example.net"],
        "cc": ["Copy <copy@example.net>", "c@example.net"],
        "bcc": ["hidden@example.net"],
        "from": "Shöp <orders@example.com>",
        "subject": "Grüße aus Köln – your order",
        "reply_to": "Help <help@example.com>",
        "plain_body": "Hello Jürgen,\nyour order is on its way.",
        "html_body": "<p>Hello <b>Jürgen</b></p>",
        "tag": "orders",
        "headers": {"X-Campaign": "autumn", "X-Priority": 1, "Bcc": "sneaky@example.net", "From": "x@evil.test"},
        "attachments": [
            {"name": "invoice.pdf", "content_type": "application/pdf", "data": base64.b64encode(PDF).decode()},
            {"name": "notes.txt", "data": base64.b64encode(b"just text").decode()},
            "not an object: skipped, as Postal does",
        ],
    }

    data = api.success("/api/v1/send/message", params)

    assert list(data) == ["message_id", "messages"]
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}@rp\.postal\.test", data["message_id"]
    )
    assert list(data["messages"]) == ["juergen@example.net", "c@example.net", "copy@example.net", "hidden@example.net"]
    rows = stored(installation)
    assert [(r["id"], r["token"]) for r in rows] == [(m["id"], m["token"]) for m in data["messages"].values()]
    credential_id = api_credential_id(installation)
    for row in rows:
        assert row["tag"] == "orders" and row["mail_from"] == "orders@example.com"
        assert row["credential_id"] == credential_id and row["received_with_ssl"] is True
        assert row["bounce"] is False and row["message_id"] == data["message_id"]
        assert row["subject"] == "Grüße aus Köln – your order"

    run_queue(installation)
    received = smtp_sink.wait_for(4)
    assert sorted(r for m in received for r in m.rcpt_tos) == sorted(data["messages"])
    raw = received[0].data
    mail = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)

    assert mail["Subject"] == "Grüße aus Köln – your order"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]  # RFC 2047 on the wire
    assert raw.split(b"\r\n\r\n", 1)[0].isascii()
    assert [str(a) for a in mail["To"].addresses] == ["Jürgen Müller <juergen@example.net>", "c@example.net"]
    assert mail["To"].addresses[0].display_name == "Jürgen Müller"
    assert [a.addr_spec for a in mail["Cc"].addresses] == ["copy@example.net", "c@example.net"]
    assert mail["From"].addresses[0].display_name == "Shöp" and len(mail.get_all("From")) == 1
    assert mail["Reply-To"].addresses[0].addr_spec == "help@example.com"
    assert mail["Bcc"] is None and b"hidden@example.net" not in raw and b"sneaky" not in raw
    assert mail["X-Campaign"] == "autumn" and mail["X-Priority"] == "1"
    assert mail["Message-ID"] == f"<{data['message_id']}>"
    assert mail["Date"] is not None and mail["MIME-Version"] == "1.0"
    received_header = mail.get_all("Received")[-1]
    assert re.match(r"from api \(\S+ \[127\.0\.0\.1\]\) by postal\.test with HTTP; ", received_header)
    # The custom headers come before the headers the message is built from (Postal's order).
    names = [name.lower() for name, _ in mail.items()]
    assert names.index("x-campaign") < names.index("to") < names.index("cc") < names.index("from")
    assert names.index("from") < names.index("subject") < names.index("reply-to")

    assert mail.get_content_type() == "multipart/mixed"
    alternative, *attachments = mail.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert text(plain) == "Hello Jürgen,\nyour order is on its way."
    assert html.get_content_type() == "text/html" and b"\r\nContent-Type: text/html; charset=UTF-8\r\n" in raw
    assert text(html) == "<p>Hello <b>Jürgen</b></p>"
    assert [(a.get_filename(), a.get_content_type(), a.get_content()) for a in attachments] == [
        ("invoice.pdf", "application/pdf", PDF),
        ("notes.txt", "application/octet-stream", b"just text"),
    ]


def test_a_message_with_only_one_body(installation: Installation, api: APIClient) -> None:
    api.success("/api/v1/send/message", {**BASIC, "plain_body": None, "html_body": "<p>only</p>"})
    mail = email.message_from_bytes(stored_raw(installation, 1), policy=policy.default)
    [alternative] = mail.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/html"]
    assert mail["Subject"] is None


def test_recipients_are_stripped_of_names_and_comments_and_deduplicated(
    installation: Installation, api: APIClient
) -> None:
    params = {**BASIC, "to": ["A <a@example.net>", "a@example.net (again)", " "], "bcc": ["<a@example.net>"]}
    data = api.success("/api/v1/send/message", params)
    assert list(data["messages"]) == ["a@example.net"]
    assert count(installation) == 1


def test_display_names_with_commas_stay_one_address(installation: Installation, api: APIClient) -> None:
    params = {**BASIC, "from": "Müller, Jörg <orders@example.com>", "to": ["Smith, John <js@example.net>"]}
    data = api.success("/api/v1/send/message", params)
    assert list(data["messages"]) == ["js@example.net"]
    mail = email.message_from_bytes(stored_raw(installation, 1), policy=policy.default)
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Müller, Jörg", "orders@example.com")
    [recipient] = mail["To"].addresses
    assert (recipient.display_name, recipient.addr_spec) == ("Smith, John", "js@example.net")


def test_header_values_cannot_inject_headers(installation: Installation, api: APIClient) -> None:
    params = {
        **BASIC,
        "subject": "Hi\r\nBcc: victim@example.net",
        "headers": {"X-Note": "a\r\nX-Injected: 1", "Bad Name": "x", "X-Ok": True},
    }
    api.success("/api/v1/send/message", params)
    mail = email.message_from_bytes(stored_raw(installation, 1), policy=policy.default)
    assert mail["Bcc"] is None and mail["X-Injected"] is None and mail["Bad Name"] is None
    assert mail["Subject"] == "Hi Bcc: victim@example.net" and mail["X-Note"] == "a X-Injected: 1"
    assert mail["X-Ok"] == "true"


ERRORS = {
    "NoRecipients": "There are no recipients defined to receive this message",
    "TooManyToAddresses": "The maximum number of To addresses has been reached (maximum 50)",
    "TooManyCCAddresses": "The maximum number of CC addresses has been reached (maximum 50)",
    "TooManyBCCAddresses": "The maximum number of BCC addresses has been reached (maximum 50)",
    "NoContent": "There is no content defined for this e-mail",
    "FromAddressMissing": "The From address is missing and is required",
    "UnauthenticatedFromAddress": "The From address is not authorised to send mail from this server",
    "AttachmentMissingName": "An attachment is missing a name",
    "AttachmentMissingData": "An attachment is missing data",
}
MANY = [f"u{i}@example.net" for i in range(51)]
NAMELESS = {"data": "eA=="}
DATALESS = {"name": "a.txt", "data": "  "}


# Validation does not depend on the database: SQLite only keeps the suite quick.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "NoRecipients"),
        ({"to": [""], "cc": [], "plain_body": "x"}, "NoRecipients"),
        ({"to": MANY}, "TooManyToAddresses"),
        ({"to": ["a@example.net"], "cc": MANY}, "TooManyCCAddresses"),
        ({"bcc": MANY, "from": "nobody@nowhere.test"}, "TooManyBCCAddresses"),
        ({"to": ["a@example.net"]}, "NoContent"),
        ({"to": ["a@example.net"], "plain_body": " \n", "html_body": ""}, "NoContent"),
        ({"to": ["a@example.net"], "plain_body": "x"}, "FromAddressMissing"),
        ({"to": ["a@example.net"], "plain_body": "x", "from": "  "}, "FromAddressMissing"),
        ({**BASIC, "from": "Me <me@nowhere.test>", "attachments": [NAMELESS]}, "UnauthenticatedFromAddress"),
        ({**BASIC, "from": "orders@example.com, me@nowhere.test"}, "UnauthenticatedFromAddress"),
        ({**BASIC, "sender": "orders@example.com", "from": "me@nowhere.test"}, "UnauthenticatedFromAddress"),
        ({**BASIC, "attachments": [NAMELESS]}, "AttachmentMissingName"),
        ({**BASIC, "attachments": [{"name": " ", "data": "eA=="}]}, "AttachmentMissingName"),
        ({**BASIC, "attachments": [DATALESS, NAMELESS]}, "AttachmentMissingData"),
        ({**BASIC, "attachments": [{"name": "a.txt"}]}, "AttachmentMissingData"),
    ],
)
def test_send_message_errors_in_postals_order(
    installation: Installation, api: APIClient, params: dict[str, Any], code: str
) -> None:
    assert api.error("/api/v1/send/message", params) == {"code": code, "message": ERRORS[code]}
    assert count(installation) == 0


def test_the_sender_header_authorises_when_the_server_allows_it(installation: Installation, api: APIClient) -> None:
    params = {**BASIC, "from": "Someone <someone@nowhere.test>", "sender": "orders@example.com"}
    change_server(installation, allow_sender=True)
    data = api.success("/api/v1/send/message", params)
    assert list(data["messages"]) == ["c@example.net"]
    mail = email.message_from_bytes(stored_raw(installation, 1), policy=policy.default)
    assert mail["Sender"] == "orders@example.com"
    assert stored(installation)[0]["mail_from"] == "someone@nowhere.test"


def test_privacy_mode_leaves_the_client_out_of_the_received_header(installation: Installation, api: APIClient) -> None:
    change_server(installation, privacy_mode=True)
    api.success("/api/v1/send/message", BASIC)
    mail = email.message_from_bytes(stored_raw(installation, 1), policy=policy.default)
    assert re.fullmatch(r"by postal\.test with HTTP; .+", mail["Received"])


def test_bounce_is_stored(installation: Installation, api: APIClient) -> None:
    api.success("/api/v1/send/message", {**BASIC, "bounce": "1"})
    api.success("/api/v1/send/raw", {"mail_from": "a@example.com", "rcpt_to": ["c@example.net"], "data": RAW_B64})
    assert [row["bounce"] for row in stored(installation)] == [True, False]


# -- send/raw ------------------------------------------------------------------------------------

RAW = (
    b"From: Shop <orders@example.com>\r\nTo: c@example.net\r\nSubject: Raw\r\nMessage-ID: <raw-1@example.com>\r\n"
    b"\r\nHi\r\n"
)
RAW_B64 = base64.b64encode(RAW).decode()


def test_send_raw_stores_the_data_for_each_distinct_recipient(
    installation: Installation, api: APIClient, smtp_sink: SMTPSink
) -> None:
    # Ruby's encode64 wraps lines; the data is read leniently, as Postal's decode64 reads it.
    wrapped = "\n".join(RAW_B64[i : i + 60] for i in range(0, len(RAW_B64), 60)) + "\n"
    params = {
        "mail_from": "bounces@example.com",
        "rcpt_to": ["c@example.net", "d@example.net", "c@example.net", " d@example.net "],
        "data": wrapped,
        "bounce": True,
    }

    data = api.success("/api/v1/send/raw", params)

    assert data["message_id"] == "raw-1@example.com"
    assert list(data["messages"]) == ["c@example.net", "d@example.net"]
    rows = stored(installation)
    assert [(r["id"], r["token"]) for r in rows] == [(m["id"], m["token"]) for m in data["messages"].values()]
    for row in rows:
        assert row["mail_from"] == "bounces@example.com" and row["bounce"] is True
        assert row["received_with_ssl"] is True and row["credential_id"] == api_credential_id(installation)
        assert row["tag"] is None
    assert stored_raw(installation, rows[0]["id"]).endswith(RAW)
    run_queue(installation)
    assert smtp_sink.wait_for(2)[0].data.endswith(b"Subject: Raw\r\nMessage-ID: <raw-1@example.com>\r\n\r\nHi\r\n")


def test_send_raw_with_bare_line_feeds_and_no_message_id(installation: Installation, api: APIClient) -> None:
    raw = b"From: orders@example.com\nSubject: LF\n\nline one\nline two\n"
    params = {"mail_from": "orders@example.com", "rcpt_to": ["c@example.net"], "data": base64.b64encode(raw).decode()}
    data = api.success("/api/v1/send/raw", params)
    # The submission adds the Message-ID a submission server must (RFC 6409 §8.3); it is returned.
    assert data["message_id"] and data["message_id"].endswith("@rp.postal.test")
    assert stored_raw(installation, 1).endswith(b"Subject: LF\r\n\r\nline one\r\nline two\r\n")


def test_send_raw_refuses_an_unauthorised_from(installation: Installation, api: APIClient) -> None:
    raw = base64.b64encode(b"From: me@nowhere.test\r\n\r\nHi\r\n").decode()
    params = {"mail_from": "orders@example.com", "rcpt_to": ["c@example.net"], "data": raw}
    assert api.error("/api/v1/send/raw", params) == {
        "code": "UnauthenticatedFromAddress",
        "message": "The From address is not authorised to send mail from this server",
    }
    assert count(installation) == 0


def test_send_raw_to_nobody_succeeds_with_nothing_sent(installation: Installation, api: APIClient) -> None:
    params = {"mail_from": "orders@example.com", "rcpt_to": [], "data": RAW_B64}
    assert api.success("/api/v1/send/raw", params) == {"message_id": None, "messages": {}}
    assert count(installation) == 0


def test_a_temporary_failure_is_an_error_to_retry() -> None:
    error = _api_error(TemporaryFailure())
    assert error.data() == {"code": "TemporaryError", "message": "The message could not be stored; try again later"}


def test_base64_is_read_as_leniently_as_ruby_reads_it() -> None:
    assert decode_base64("aGVs\nbG8=") == b"hello"
    assert decode_base64("aGVsbG8") == b"hello"
    assert decode_base64("aGVs bG8=!!") == b"hello"
    assert decode_base64("") == b""
