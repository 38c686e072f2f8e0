"""HTTP endpoint bodies: Postal's Hash and RawMessage formats, JSON and form encoding."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import pytest

from core.mail.http_payload import (
    FORM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    EndpointOptions,
    IncomingMail,
    encode_body,
    form_encode,
    hash_payload,
    raw_payload,
    request_body,
    ruby_base64,
)
from models.enums import HTTPEncoding, HTTPFormat

LOGO = bytes(range(256)) * 2
LOGO_BASE64 = ruby_base64(LOGO)

RAW = b"".join(
    [
        b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_&_more?=\r\n",
        b"Message-ID: <m1@mail.example.com>\r\n",
        b"To: Support <support@example.com>\r\n",
        b"From: Alice <alice@example.com>\r\n",
        b"Date: Thu, 03 Nov 2016 10:43:18 +0000\r\n",
        b"Reply-To: Alice <alice@example.com>, bob@example.com\r\n",
        b"MIME-Version: 1.0\r\n",
        b'Content-Type: multipart/mixed; boundary="b1"\r\n',
        b"\r\n",
        b"--b1\r\n",
        b'Content-Type: multipart/alternative; boundary="b2"\r\n',
        b"\r\n",
        b"--b2\r\n",
        b"Content-Type: text/plain; charset=utf-8\r\n",
        b"\r\n",
        b"Sounds good.\r\n\r\nOn Wed, 2 Nov 2016, Bob <bob@example.com> wrote:\r\n> Meet at 10?\r\n",
        b"--b2\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n",
        b"\r\n",
        b"<p>Sounds good.</p>\r\n",
        b"--b2--\r\n",
        b"--b1\r\n",
        b'Content-Type: image/png; name="logo.png"\r\n',
        b"Content-Transfer-Encoding: base64\r\n",
        b"\r\n",
        base64.encodebytes(LOGO).replace(b"\n", b"\r\n"),
        b"--b1--\r\n",
    ]
)


def _mail(raw: bytes = RAW) -> IncomingMail:
    return IncomingMail(
        id=42,
        token="rtmuzogUauKN",
        rcpt_to="support@example.com",
        mail_from="alice@example.com",
        timestamp=1478169798.924355,
        size=len(raw),
        spam_status="NotSpam",
        bounce=False,
        received_with_ssl=True,
        raw=raw,
    )


def test_hash_payload_has_postals_fields_in_postals_order() -> None:
    payload = hash_payload(_mail(), strip_replies=False, include_attachments=True)

    assert list(payload.items()) == [
        ("id", 42),
        ("rcpt_to", "support@example.com"),
        ("mail_from", "alice@example.com"),
        ("token", "rtmuzogUauKN"),
        ("subject", "Grüße & more"),
        ("message_id", "m1@mail.example.com"),
        ("timestamp", 1478169798.924355),
        ("size", str(len(RAW))),
        ("spam_status", "NotSpam"),
        ("bounce", False),
        ("received_with_ssl", True),
        ("to", "Support <support@example.com>"),
        ("cc", None),
        ("from", "Alice <alice@example.com>"),
        ("date", "Thu, 03 Nov 2016 10:43:18 +0000"),
        ("in_reply_to", None),
        ("references", None),
        ("html_body", "<p>Sounds good.</p>"),
        ("attachment_quantity", 1),
        ("auto_submitted", None),
        ("reply_to", ["Alice <alice@example.com>, bob@example.com"]),
        ("plain_body", "Sounds good.\n\nOn Wed, 2 Nov 2016, Bob <bob@example.com> wrote:\n> Meet at 10?"),
        ("attachments", [{"filename": "logo.png", "content_type": "image/png", "size": 512, "data": LOGO_BASE64}]),
    ]


def test_strip_replies_splits_the_plain_body_and_adds_the_replies_after_it() -> None:
    payload = hash_payload(_mail(), strip_replies=True, include_attachments=False)

    assert list(payload)[-3:] == ["reply_to", "plain_body", "replies_from_plain_body"]
    assert payload["plain_body"] == "Sounds good."
    assert payload["replies_from_plain_body"] == "On Wed, 2 Nov 2016, Bob <bob@example.com> wrote:\n> Meet at 10?"
    assert "attachments" not in payload
    assert payload["attachment_quantity"] == 1  # counted whether or not they are included


def test_strip_replies_without_replies_or_body_sends_null_replies() -> None:
    plain = hash_payload(_mail(b"Subject: x\r\n\r\nJust this.\r\n"), strip_replies=True, include_attachments=False)
    html_only = hash_payload(
        _mail(b"Content-Type: text/html\r\n\r\n<p>x</p>"), strip_replies=True, include_attachments=False
    )

    assert (plain["plain_body"], plain["replies_from_plain_body"]) == ("Just this.", None)
    # Postal's separator returns "" for a missing body; the multiple assignment leaves the replies nil.
    assert (html_only["plain_body"], html_only["replies_from_plain_body"]) == ("", None)


def test_a_message_without_headers_gives_empty_subject_and_nulls() -> None:
    payload = hash_payload(_mail(b"\r\nbody only"), strip_replies=False, include_attachments=True)

    assert payload["subject"] == ""
    assert payload["message_id"] is None
    assert payload["reply_to"] is None
    assert payload["attachments"] == []
    assert payload["plain_body"] == "body only"


def test_subject_is_cut_to_the_200_characters_postal_stores() -> None:
    payload = hash_payload(
        _mail(b"Subject: " + b"x" * 300 + b"\r\n\r\n"), strip_replies=False, include_attachments=False
    )

    assert payload["subject"] == "x" * 200


def test_ruby_base64_wraps_every_60_characters() -> None:
    # The example from Ruby's Base64 documentation.
    assert ruby_base64(b"Now is the time for all good coders\nto learn Ruby") == (
        "Tm93IGlzIHRoZSB0aW1lIGZvciBhbGwgZ29vZCBjb2RlcnMKdG8gbGVhcm4g\nUnVieQ==\n"
    )
    assert ruby_base64(b"") == ""
    assert all(len(line) == 60 for line in LOGO_BASE64.splitlines()[:-1])
    assert LOGO_BASE64.endswith("\n")


def test_raw_payload_round_trips_the_message() -> None:
    payload = raw_payload(_mail())

    assert list(payload) == ["id", "rcpt_to", "mail_from", "message", "base64", "size"]
    assert (payload["id"], payload["base64"], payload["size"]) == (42, True, len(RAW))
    body, content_type = encode_body(payload, HTTPEncoding.BODY_AS_JSON)
    assert content_type == JSON_CONTENT_TYPE
    assert base64.b64decode(json.loads(body)["message"]) == RAW


def test_json_body_is_compact_utf8_with_html_characters_escaped() -> None:
    payload = hash_payload(_mail(), strip_replies=False, include_attachments=False)

    body, content_type = encode_body(payload, "BodyAsJSON")

    assert content_type == "application/json"
    assert body.startswith(b'{"id":42,"rcpt_to":"support@example.com","mail_from":"alice@example.com",')
    assert '"subject":"Grüße \\u0026 more"'.encode() in body
    assert b'"html_body":"\\u003cp\\u003eSounds good.\\u003c/p\\u003e"' in body
    assert b'"timestamp":1478169798.924355,"size":"' in body
    assert json.loads(body) == payload


def test_form_data_is_ruby_encode_www_form_of_postals_flat_hash() -> None:
    raw = (
        b"Subject: Hi there\r\nReply-To: a@example.com\r\nReply-To: b@example.com\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nHello & bye\r\n"
        b'--b\r\nContent-Type: text/plain; name="n.txt"; charset=us-ascii\r\n\r\nhi\r\n--b--\r\n'
    )
    mail = IncomingMail(1, "tok", "in@example.com", "a@example.com", 1.5, 7, "NotChecked", True, False, raw)

    body, content_type = request_body(
        mail, EndpointOptions(HTTPFormat.HASH, HTTPEncoding.FORM_DATA, strip_replies=False, include_attachments=True)
    )

    assert content_type == FORM_CONTENT_TYPE
    assert body.decode() == (
        "id=1&rcpt_to=in%40example.com&mail_from=a%40example.com&token=tok&subject=Hi+there"
        "&message_id&timestamp=1.5&size=7&spam_status=NotChecked&bounce=true&received_with_ssl=false"
        "&to&cc&from&date&in_reply_to&references&html_body&attachment_quantity=1&auto_submitted"
        "&reply_to=a%40example.com&reply_to=b%40example.com&plain_body=Hello+%26+bye"
        "&attachments%5B0%5D%5Bfilename%5D=n.txt"
        "&attachments%5B0%5D%5Bcontent_type%5D=text%2Fplain%3B+name%3Dn.txt%3B+charset%3Dus-ascii"
        "&attachments%5B0%5D%5Bsize%5D=2&attachments%5B0%5D%5Bdata%5D=aGk%3D%0A"
    )
    assert dict(parse_qsl(body.decode()))["attachments[0][data]"] == "aGk=\n"


def test_form_encoding_flattens_nested_values_rails_style() -> None:
    payload = {"a b": "x*y~z", "n": None, "list": ["1", None], "hash": {"k": 1.0}, "rows": [{"f": True}]}

    assert form_encode(payload) == "a+b=x*y%7Ez&n&list=1&list&hash%5Bk%5D=1.0&rows%5B0%5D%5Bf%5D=true"


def test_raw_message_format_as_form_data() -> None:
    body, _ = request_body(
        _mail(b"Subject: x\r\n\r\ny"), EndpointOptions(format=HTTPFormat.RAW_MESSAGE, encoding=HTTPEncoding.FORM_DATA)
    )

    fields = dict(parse_qsl(body.decode()))
    assert fields["base64"] == "true"
    assert base64.b64decode(fields["message"]) == b"Subject: x\r\n\r\ny"


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe\x00", b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"])
def test_malformed_messages_still_give_a_payload(raw: bytes) -> None:
    for encoding in HTTPEncoding:
        body, _ = request_body(_mail(raw), EndpointOptions(encoding=encoding, strip_replies=True))
        assert body
