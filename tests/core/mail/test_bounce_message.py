"""Postal-style bounces: headers, Postal's wording, and the original attached untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

import pytest

from core.mail.bounce_message import ATTACHMENT_NAME, build_bounce

ORIGINAL = (
    "Received: from mx.example.net\n"
    "From: Alice <alice@example.net>\n"
    "To: help@example.com\n"
    "Subject: Café order\n"
    "Message-ID: <orig-1@example.net>\n"
    "X-Postal-MsgID: AbCdEf123456\n"
    "\n"
    "Hello,\n"
    "--not-a-boundary\n"
    "From the desk of Alice.\n"
).encode()
WHEN = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def _bounce(original: bytes = ORIGINAL, **overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "original_token": "AbCdEf123456",
        "server_token": "srvtok",
        "original_message_id": "orig-1@example.net",
        "mail_from": "alice@example.net",
        "rcpt_to": "help@example.com",
        "subject": "Café order",
        "from_address": "help@example.com",
        "postmaster_address": "postmaster@example.com",
        "date": WHEN,
        "message_id": "b0unce-1@rp.example.com",
    }
    arguments.update(overrides)
    return build_bounce(original, **arguments)  # type: ignore[arg-type]


def _parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _text(part: Message) -> str:
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def test_headers_address_the_original_sender() -> None:
    bounce = _parsed(_bounce())

    assert bounce["To"] == "alice@example.net"
    assert bounce["From"] == "Mail Delivery Service <help@example.com>"
    assert bounce["Subject"] == "Mail Delivery Failed (Café order)"
    assert bounce["Message-ID"] == "<b0unce-1@rp.example.com>"
    assert bounce["Date"].datetime == WHEN
    assert bounce["Auto-Submitted"] == "auto-replied"
    assert bounce["MIME-Version"] == "1.0"
    assert bounce.get_content_type() == "multipart/mixed"


def test_body_uses_postals_wording() -> None:
    text_part, _ = _parsed(_bounce()).iter_parts()

    assert text_part.get_content_type() == "text/plain"
    assert _text(text_part) == (
        "This is the mail delivery service responsible for delivering mail to help@example.com.\n"
        "\n"
        "The message you've sent cannot be delivered. Your original message is attached to this message.\n"
        "\n"
        "For further assistance please contact postmaster@example.com. "
        "Please include the details below to help us identify the issue.\n"
        "\n"
        "Message Token: AbCdEf123456@srvtok\n"
        "Orginal Message ID: orig-1@example.net\n"
        "Mail from: alice@example.net\n"
        "Rcpt To: help@example.com\n"
    )


def test_a_reason_is_added_to_the_details() -> None:
    text_part, _ = _parsed(_bounce(reason="Received a 404 from\n https://app.example.com/mail")).iter_parts()

    assert _text(text_part).endswith(
        "Rcpt To: help@example.com\nReason: Received a 404 from https://app.example.com/mail\n"
    )


def test_the_original_is_attached_byte_for_byte_apart_from_line_endings() -> None:
    raw = _bounce()
    bounce = _parsed(raw)
    _, attachment = bounce.iter_parts()

    assert attachment.get_content_type() == "message/rfc822"
    assert attachment.get_filename() == ATTACHMENT_NAME
    assert attachment.get_content_disposition() == "attachment"
    attached = attachment.get_payload()[0]
    assert isinstance(attached, Message)
    assert attached["Subject"] == "Café order"
    assert attached["X-Postal-MsgID"] == "AbCdEf123456"

    delimiter = b"\r\n--" + bounce.get_boundary().encode()
    assert b"--" + bounce.get_boundary().encode() not in ORIGINAL
    attachment_part = raw.split(delimiter)[2]
    _, body = attachment_part.split(b"\r\n\r\n", 1)
    assert body == ORIGINAL.replace(b"\n", b"\r\n")


def test_output_has_crlf_line_endings_only() -> None:
    raw = _bounce()

    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.endswith(b"--\r\n")


def test_line_breaks_in_values_cannot_add_headers_or_lines() -> None:
    raw = _bounce(mail_from="alice@example.net\r\nBcc: eve@example.org", rcpt_to="a@b\rc")
    bounce = _parsed(raw)

    assert bounce["Bcc"] is None
    assert b"\r\nTo: alice@example.net Bcc: eve@example.org\r\n" in raw
    assert b"\r" not in raw.replace(b"\r\n", b"")


def test_a_non_ascii_original_is_sent_8bit_and_an_ascii_one_7bit() -> None:
    assert b"Content-Transfer-Encoding: 8bit" in _bounce()
    assert b"Content-Transfer-Encoding: 8bit" not in _bounce(b"Subject: plain\r\n\r\nascii\r\n")


def test_the_boundary_avoids_text_that_happens_to_be_in_the_original() -> None:
    first = _parsed(_bounce()).get_boundary()
    assert first is not None
    trap = ORIGINAL + b"--" + first.encode() + b"\n"

    bounce = _parsed(_bounce(trap))

    assert bounce.get_boundary() != first
    assert len(list(bounce.iter_parts())) == 2


def test_the_same_inputs_give_the_same_bounce() -> None:
    assert _bounce() == _bounce()


def test_defaults_pick_a_fresh_message_id_and_the_current_date() -> None:
    bounce = _parsed(_bounce(date=None, message_id=None))

    assert bounce["Message-ID"].endswith("@example.com>")
    assert abs((datetime.now(UTC) - bounce["Date"].datetime).total_seconds()) < 60
    assert _bounce(date=None, message_id=None) != _bounce(date=None, message_id=None)


@pytest.mark.parametrize("original", [b"", b"\xff\xfe not a message", b"no headers\n\n\n"])
def test_odd_originals_still_give_a_readable_bounce(original: bytes) -> None:
    bounce = _parsed(_bounce(original, subject=None, original_message_id=None))

    assert bounce["Subject"] == "Mail Delivery Failed ()"
    assert [part.get_content_type() for part in bounce.iter_parts()] == ["text/plain", "message/rfc822"]
