"""Bounce parsing: captured MTA bounces in tests/data/dsn (see its README.md) and small synthetic cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.mail.dsn import RecipientStatus, parse, postal_message_ids

DATA = Path(__file__).parents[2] / "data" / "dsn"
EXPECTED: list[dict[str, Any]] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))["samples"]

# The README's "Originals" table: X-Postal-MsgID and Message-ID of the returned original, by file number.
ORIGINALS = {
    "01": ("YErwIttHuc65", "a6290653-a578-4c38-8554-1c7231b1e68a@shop.example.com"),
    "02": ("QTmnk6mPC0rU", "f5096386-923f-4c43-9409-b97e51efe4a8@shop.example.com"),
    "03": ("rJ55oXhAYoJT", "0ccd9438-68b8-423b-ad40-82884bfe0854@shop.example.com"),
    "04": ("b0INH8rocIjW", "a4c597bc-c476-45c7-ba84-23fb11cb6643@shop.example.com"),
    "05": ("qgiVqQR3xD6C", "c7cd5b44-5173-4727-91cf-73fd8bff8c8f@shop.example.com"),
    "06": ("qgiVqQR3xD6C", "c7cd5b44-5173-4727-91cf-73fd8bff8c8f@shop.example.com"),
    "07": ("CR3LZY5hSCJT", "875469f6-89d2-41bd-ad2a-d558f856b0c8@shop.example.com"),
    "08": ("5Xx1Ugyn1Kkg", "f749d249-302c-4594-ad35-8c3ddd5776f5@shop.example.com"),
    "09": ("r8BEffGVbER3", "73ead1cb-48f3-438e-ba90-6e498e07bd23@shop.example.com"),
    "11": ("sraVDUsdtMIJ", "033c4fdb-ab48-47f1-b3cf-64f72f88be10@shop.example.com"),
    "12": ("roAH09In333x", "b848f2ce-1886-484c-bf12-6d2bde66538a@shop.example.com"),
}


def _without_type(diagnostic: str | None) -> str | None:
    """expected.json keeps the "smtp;" type of Diagnostic-Code; the parser drops it."""
    return diagnostic.split(";", 1)[1].strip() if diagnostic else None


def test_every_sample_file_is_described() -> None:
    assert sorted(path.name for path in DATA.glob("*.eml")) == sorted(sample["file"] for sample in EXPECTED)
    assert sorted(ORIGINALS) == sorted(sample["file"][:2] for sample in EXPECTED)


@pytest.mark.parametrize("sample", EXPECTED, ids=lambda sample: sample["file"][:2])
def test_sample(sample: dict[str, Any]) -> None:
    raw = (DATA / sample["file"]).read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b""), "CRLF line endings were altered"
    report = parse(raw)

    assert report.is_bounce is sample["is_bounce"]
    assert report.kind == (sample["classification"] or "none")
    assert report.final is sample["final"]
    expected = sample["recipients"]
    assert [r.final_recipient for r in report.recipients] == [e["final_recipient"] for e in expected]
    assert [r.action for r in report.recipients] == [e["action"] for e in expected]
    assert [r.status for r in report.recipients] == [e["status"] for e in expected]
    assert [r.diagnostic_code for r in report.recipients] == [_without_type(e["diagnostic_code"]) for e in expected]

    original = sample["original"]
    assert report.postal_message_ids == [original["x_postal_msgid"]]
    assert report.original_message_id == original["message_id"].strip("<>")
    assert report.original_headers == {
        "from": original["from"],
        "to": original["to"],
        "subject": original["subject"],
        "message-id": original["message_id"],
    }


@pytest.mark.parametrize(("number", "ids"), ORIGINALS.items())
def test_originals_table(number: str, ids: tuple[str, str]) -> None:
    (path,) = DATA.glob(f"{number}-*.eml")
    report = parse(path.read_bytes())
    assert (report.postal_message_ids, report.original_message_id) == ([ids[0]], ids[1])


@pytest.mark.parametrize(
    ("number", "reporting_mta", "remote_mta"),
    [("01", "mta1.example.com", "127.0.0.1"), ("09", "mta2.example.com", "127.0.0.1"), ("12", None, None)],
)
def test_mta_fields(number: str, reporting_mta: str | None, remote_mta: str | None) -> None:
    (path,) = DATA.glob(f"{number}-*.eml")
    report = parse(path.read_bytes())
    assert report.reporting_mta == reporting_mta
    assert [r.remote_mta for r in report.recipients] == [remote_mta]


def test_status_class_wins_over_action_and_smtp_reply() -> None:
    expired = parse(next(DATA.glob("06-*.eml")).read_bytes())  # Action failed, Status 4.2.2
    gave_up = parse(next(DATA.glob("09-*.eml")).read_bytes())  # Action failed, Status 5.2.2, reply 452 4.2.2
    assert (expired.is_bounce, expired.final, expired.kind) == (True, True, "soft")
    assert (gave_up.is_bounce, gave_up.final, gave_up.kind) == (True, True, "hard")


@pytest.mark.parametrize(
    ("action", "status", "diagnostic", "kind"),
    [
        ("failed", "5.1.1", None, "hard"),
        ("failed", "4.2.2", None, "soft"),
        ("failed", "5.2.2", "452 4.2.2 mailbox full", "hard"),
        ("delayed", "4.4.1", None, "soft"),
        ("delayed", "5.0.0", None, "soft"),
        ("delivered", "2.0.0", None, "none"),
        ("relayed", "2.0.0", None, "none"),
        ("expanded", "2.0.0", None, "none"),
        (None, "5.1.1", None, "hard"),
        (None, None, None, "none"),
        ("failed", None, "550 mailbox unavailable", "hard"),
        ("failed", None, "421 try again later", "soft"),
        ("failed", None, None, "hard"),
    ],
)
def test_recipient_kind(action: str | None, status: str | None, diagnostic: str | None, kind: str) -> None:
    recipient = RecipientStatus("a@example.net", None, action, status, diagnostic, None)
    assert recipient.kind == kind


def test_out_of_office_reply_is_not_a_bounce() -> None:
    raw = (
        b"From: Alice Customer <alice@customer.example>\r\n"
        b"To: k3x9vq@psrp.example.com\r\n"
        b"Subject: Out of office: Your order has shipped\r\n"
        b"Auto-Submitted: auto-replied\r\n"
        b"\r\n"
        b"I am away until Monday.\r\n"
        b"<alice@customer.example>: please write to bob@customer.example instead (550 5.1.1 is not an error)\r\n"
        b"\r\n"
        b"> X-Postal-MsgID: AbCdEf123456\r\n"
    )
    report = parse(raw)
    assert (report.is_bounce, report.kind, report.final, report.recipients) == (False, "none", False, [])
    assert report.postal_message_ids == ["AbCdEf123456"]


def test_folded_fields_and_bare_lf() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        b"\n"
        b"--b\n"
        b"Content-Type: text/plain\n"
        b"\n"
        b"Delivery failed.\n"
        b"--b\n"
        b"Content-Type: message/delivery-status\n"
        b"\n"
        b"Reporting-MTA: dns;\n mx.example.org\n"
        b"\n"
        b"Final-Recipient: rfc822;\n\tSomeone@Example.NET\n"
        b"Action: Failed\n"
        b"Status: 5.1.1 (bad destination mailbox)\n"
        b"Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried\n"
        b"    to reach does not exist   \n"
        b"\n"
        b"Final-Recipient: rfc822; later@example.net\n"
        b"Action: delayed\n"
        b"Status: 4.4.1\n"
        b"--b--\n"
    )
    report = parse(raw)
    failed, delayed = report.recipients
    assert failed.final_recipient == "someone@example.net"
    assert (failed.action, failed.status, failed.kind) == ("failed", "5.1.1", "hard")
    assert failed.diagnostic_code == "550-5.1.1 The email account that you tried to reach does not exist"
    assert (delayed.action, delayed.kind, delayed.final) == ("delayed", "soft", False)
    assert report.reporting_mta == "mx.example.org"
    assert (report.is_bounce, report.kind, report.final) == (True, "hard", True)
    assert report.original_message_id is None
    assert report.original_headers == {}


def test_exim_style_plain_text_bounce() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\r\n"
        b"Subject: Mail delivery failed: returning message to sender\r\n"
        b"\r\n"
        b"This message was created automatically by mail delivery software.\r\n"
        b"\r\n"
        b"A message that you sent could not be delivered to one or more of its\r\n"
        b"recipients. This is a permanent error. The following address(es) failed:\r\n"
        b"\r\n"
        b"  Gone@Example.org\r\n"
        b"    host mx.example.org [192.0.2.5]\r\n"
        b"    SMTP error from remote mail server after RCPT TO:<Gone@Example.org>:\r\n"
        b"    550 5.1.1 User unknown\r\n"
        b"\r\n"
        b"------ This is a copy of the message, including all the headers. ------\r\n"
        b"\r\n"
        b"From: Example Shop <orders@shop.example.com>\r\n"
        b"Subject: Hello\r\n"
        b"Message-ID: <abc@shop.example.com>\r\n"
        b"X-Postal-MsgID: Tok3nTok3n12\r\n"
        b"\r\n"
        b"Body\r\n"
    )
    report = parse(raw)
    assert [(r.final_recipient, r.action, r.status) for r in report.recipients] == [("gone@example.org", None, "5.1.1")]
    assert (report.is_bounce, report.kind, report.final) == (True, "hard", True)
    assert report.original_message_id == "abc@shop.example.com"
    assert report.original_headers["subject"] == "Hello"
    assert report.postal_message_ids == ["Tok3nTok3n12"]


def test_global_delivery_status_with_utf8_address() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        b"\r\n"
        b"--b\r\n"
        b"Content-Type: message/global-delivery-status\r\n"
        b"\r\n"
        b"Reporting-MTA: dns; mx.example.org\r\n"
        b"\r\n"
        b"Final-Recipient: utf-8; J\xc3\xbcrgen@B\xc3\xbccher.example\r\n"
        b"Action: failed\r\n"
        b"Status: 5.1.1\r\n"
        b"\r\n"
        b"--b--\r\n"
    )
    report = parse(raw)
    assert [(r.final_recipient, r.kind) for r in report.recipients] == [("jürgen@bücher.example", "hard")]
    assert report.reporting_mta == "mx.example.org"


@pytest.mark.parametrize(
    "raw", [b"", b"\r\n", b"garbage \xff\xfe without headers", b"Content-Type: multipart/report\r\n"]
)
def test_degenerate_input_does_not_crash(raw: bytes) -> None:
    report = parse(raw)
    assert (report.is_bounce, report.kind, report.recipients, report.postal_message_ids) == (False, "none", [], [])


def test_postal_message_ids_in_order_without_repeats() -> None:
    raw = (
        b"X-Postal-MsgID: first1\r\n"
        b"x-postal-msgid:second2\r\n"
        b"X-Postal-MsgID:\r\n first1\r\n"  # folded
        b"X-Postal-MsgID: <third3>\r\n"
    )
    assert postal_message_ids(raw) == ["first1", "second2", "third3"]
    assert postal_message_ids(b"X-Postal-MsgID:\r\n\r\nbody") == []
