"""Reading raw messages into payload fields: headers, bodies, attachments, and never raising."""

from __future__ import annotations

import base64
import time

import pytest

from core.mail.content import Attachment, MailContent, parse

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 3
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
FORWARDED = b"From: carol@example.org\r\nSubject: Forwarded\r\n\r\nOld news\r\n"


def _multipart() -> bytes:
    html = base64.encodebytes("<p>Grüße, <b>Alice</b></p>".encode()).replace(b"\n", b"\r\n")
    return b"".join(
        [
            b"Received: from mx.example.com\r\n",
            b"Subject: first subject\r\n",
            b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n",
            b"Message-ID: <abc.123@mail.example.com>\r\n",
            b'To: "Support Team" <support@example.com>,\r\n other@example.com\r\n',
            b"Cc: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.de>\r\n",
            b"From: Alice Example <alice@example.com>\r\n",
            b"Date: Thu, 3 Nov 2016 10:43:18 +0100\r\n",
            b"In-Reply-To: <prev@example.com>\r\n",
            b"References: <a@example.com>\r\n <prev@example.com>\r\n",
            b"Reply-To: Alice <alice@example.com>, Bob <bob@example.com>\r\n",
            b"Auto-Submitted: auto-replied\r\n",
            b"MIME-Version: 1.0\r\n",
            b'Content-Type: multipart/mixed; boundary="outer"\r\n',
            b"\r\n",
            b"--outer\r\n",
            b'Content-Type: multipart/alternative; boundary="inner"\r\n',
            b"\r\n",
            b"--inner\r\n",
            b"Content-Type: text/plain; charset=iso-8859-1\r\n",
            b"Content-Transfer-Encoding: quoted-printable\r\n",
            b"\r\n",
            b"Caf=E9 at noon?\r\n\r\nOn Mon, 1 Jan 2024, Bob <bob@example.com> wrote:\r\n> Lunch?\r\n",
            b"--inner\r\n",
            b"Content-Type: text/html; charset=utf-8\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"\r\n",
            html,
            b"--inner--\r\n",
            b"--outer\r\n",
            b'Content-Type: application/pdf; name="report.pdf"\r\n',
            b'Content-Disposition: attachment; filename="report.pdf"\r\n',
            b"Content-Transfer-Encoding: base64\r\n",
            b"\r\n",
            base64.encodebytes(PDF).replace(b"\n", b"\r\n"),
            b"--outer\r\n",
            b"Content-Type: image/png\r\n",
            b"Content-Disposition: inline; filename*=UTF-8''%C3%BCbersicht.png\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"\r\n",
            base64.encodebytes(PNG).replace(b"\n", b"\r\n"),
            b"--outer\r\n",
            b"Content-Type: text/plain; charset=utf-8\r\n",
            b"Content-Disposition: attachment\r\n",
            b"\r\n",
            b"unnamed notes\r\n",
            b"--outer\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"\r\n",
            FORWARDED,
            b"\r\n--outer--\r\n",
        ]
    )


@pytest.fixture
def content() -> MailContent:
    return parse(_multipart())


def test_headers_are_the_last_decoded_value(content: MailContent) -> None:
    assert content.subject == "Grüße aus Köln"
    assert content.message_id == "abc.123@mail.example.com"
    assert content.to == "Support Team <support@example.com>, other@example.com"
    assert content.cc == "Jörg <jorg@example.de>"
    assert content.from_ == "Alice Example <alice@example.com>"
    assert content.in_reply_to == "<prev@example.com>"
    assert content.references == "<a@example.com> <prev@example.com>"
    assert content.auto_submitted == "auto-replied"


def test_date_is_rendered_as_the_mail_gem_does(content: MailContent) -> None:
    assert content.date == "Thu, 03 Nov 2016 10:43:18 +0100"


def test_reply_to_keeps_each_header_value_and_lists_the_addresses(content: MailContent) -> None:
    assert content.reply_to == ["Alice <alice@example.com>, Bob <bob@example.com>"]
    assert content.reply_to_addresses == ["alice@example.com", "bob@example.com"]


def test_bodies_are_decoded_with_their_charsets(content: MailContent) -> None:
    assert content.plain_body == "Café at noon?\n\nOn Mon, 1 Jan 2024, Bob <bob@example.com> wrote:\n> Lunch?"
    assert content.html_body == "<p>Grüße, <b>Alice</b></p>"


def test_attachments_are_named_parts_attached_messages_and_disposition_attachments(content: MailContent) -> None:
    names = [(a.filename, a.content_type) for a in content.attachments]
    assert names[:3] == [("report.pdf", "application/pdf"), ("übersicht.png", "image/png"), (None, "text/plain")]
    assert content.attachments[0] == Attachment(
        "report.pdf", "application/pdf", PDF, "application/pdf; name=report.pdf"
    )
    assert content.attachments[1].data == PNG
    assert content.attachments[2].data == b"unnamed notes"

    forwarded = content.attachments[3]
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename is not None and forwarded.filename.endswith(".eml")
    assert forwarded.data == FORWARDED
    assert parse(_multipart()).attachments[3].filename == forwarded.filename  # reproducible name


def test_a_bare_message_is_plain_text() -> None:
    content = parse(b"From: a@example.com\r\nSubject: hi\r\n\r\nJust text\r\nline two\r\n")

    assert content.plain_body == "Just text\nline two\n"
    assert content.html_body is None
    assert content.attachments == []
    assert content.to is None and content.message_id is None and content.reply_to == []


def test_a_single_html_part_has_no_plain_body() -> None:
    content = parse(b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>hi</p>\r\n")

    assert (content.plain_body, content.html_body) == (None, "<p>hi</p>\n")


def test_message_id_is_taken_from_between_the_brackets() -> None:
    assert parse(b"Message-ID: junk <id@host> (comment)\r\n\r\n").message_id == "id@host"
    assert parse(b"Message-ID: bare@host\r\n\r\n").message_id == "bare@host"


def test_raw_8bit_headers_are_read_as_utf8() -> None:
    assert parse("Subject: Café ☕\r\n\r\nx".encode()).subject == "Café ☕"
    assert parse(b"Subject: caf\xe9\r\n\r\nx").subject == "caf\ufffd"


def test_an_unparseable_date_is_passed_through() -> None:
    assert parse(b"Date: sometime last week\r\n\r\n").date == "sometime last week"
    assert parse(b"Date: Thu, 3 Nov 2016 10:43:18 -0000\r\n\r\n").date == "Thu, 03 Nov 2016 10:43:18 +0000"


@pytest.mark.parametrize("charset", ["x-unknown-charset", "idna", "hex", "utf-8\x00"])
def test_bad_charsets_fall_back_to_utf8(charset: str) -> None:
    raw = f'Content-Type: text/plain; charset="{charset}"\r\n\r\n'.encode() + "naïve\r\n".encode()

    assert parse(raw).plain_body == "naïve\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b'Subject: =?UTF-8?B?broken\r\nTo: <<<@@@>>>, "unterminated\r\nDate: 99 Foo 99999\r\n\r\n',
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nno end",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter at all",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/pdf; name*=bad''%ZZ\r\n"
        b"Content-Disposition: attachment; filename*0*=x''%; filename*1=y\r\n\r\ndata\r\n--x--\r\n",
        b"Content-Type: message/rfc822\r\n\r\nnot really a message",
        b"To: =?x-unknown?Q?abc?= <a@b>\r\nSubject: =?unknown-8bit?B?w6k=?=\r\n\r\n",
    ],
)
def test_malformed_messages_never_raise(raw: bytes) -> None:
    content = parse(raw)

    assert isinstance(content, MailContent)
    assert all(isinstance(a.data, bytes) for a in content.attachments)


def test_huge_headers_are_read_quickly() -> None:
    raw = b"To: " + b"a@example.com, " * 60_000 + b"\r\nMessage-ID: " + b"<" * 500_000 + b"\r\n\r\nbody"
    started = time.monotonic()

    content = parse(raw)

    assert time.monotonic() - started < 5
    assert content.to is not None and content.to.startswith("a@example.com, a@example.com")
    assert content.message_id == ""
