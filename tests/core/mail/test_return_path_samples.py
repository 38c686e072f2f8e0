"""The bounce parser on the shapes of tests/data/return_path (see its README.md): reports that say
in words what their fields do not, delay warnings, receipts and automatic replies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.mail import arf
from core.mail.dsn import parse

DATA = Path(__file__).parents[2] / "data" / "return_path"
EXPECTED: list[dict[str, Any]] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))["samples"]


def test_every_sample_file_is_described() -> None:
    assert sorted(path.name for path in DATA.glob("*.eml")) == sorted(sample["file"] for sample in EXPECTED)
    for sample in EXPECTED:
        assert sample["hand_written"] == ("handwritten" in sample["file"])


@pytest.mark.parametrize("sample", EXPECTED, ids=lambda sample: sample["file"][:3])
def test_sample(sample: dict[str, Any]) -> None:
    raw = (DATA / sample["file"]).read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b""), "CRLF line endings were altered"
    report = parse(raw)
    assert report.is_bounce == sample["is_bounce"]
    assert report.auto_reply == (sample["category"] == "auto_reply")
    assert report.postal_message_ids == [sample["x_postal_msgid"]]
    found = [{"address": r.final_recipient, "kind": r.kind, "final": r.final} for r in report.recipients]
    assert found == sample["recipients"]
    feedback = arf.parse(raw)
    if sample["category"] in ("complaint", "feedback"):
        assert feedback is not None
        assert (feedback.feedback_type, feedback.user_agent) == (sample["feedback_type"], sample["user_agent"])
        assert feedback.complaint == (sample["category"] == "complaint")
        assert feedback.postal_message_ids == [sample["x_postal_msgid"]]
    else:
        assert feedback is None


def test_an_auto_reply_that_carries_a_delivery_report_is_a_bounce() -> None:
    """`Auto-Submitted: auto-replied` is on many real bounces: with a delivery-status part it is one."""
    raw = (Path(__file__).parents[2] / "data" / "dsn" / "01-postfix-hard-5.1.1-user-unknown.eml").read_bytes()
    assert b"Auto-Submitted: auto-replied" in raw
    report = parse(raw.replace(b"Subject: ", b"Subject: Automatic reply: ", 1))
    assert report.is_bounce and not report.auto_reply and report.kind == "hard"


def test_an_out_of_office_subject_from_the_mailer_daemon_is_no_auto_reply() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Out of Office\r\nAuto-Submitted: auto-replied\r\n\r\n"
        b"<a@example.net>:\r\n550 5.1.1 user unknown\r\n"
    )
    report = parse(raw)
    assert not report.auto_reply and report.is_bounce and report.recipients[0].status == "5.1.1"


def test_addresses_named_only_in_a_sentence_are_the_originals_recipients_not_role_accounts() -> None:
    raw = (
        b"From: Mail Delivery Subsystem <mailer-daemon@mx.example.net>\r\n"
        b"Subject: Delivery Status Notification (Failure)\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\n"
        b"Your message to c@example.net failed permanently. If you think this is wrong, write to\r\n"
        b"postmaster@mx.example.net or to helpdesk@example.org.\r\n\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: orders@shop.example.com\r\nTo: c@example.net\r\nX-Postal-MsgID: AbCdEf123456\r\n\r\n--b--\r\n"
    )
    report = parse(raw)
    assert [(r.final_recipient, r.kind, r.final) for r in report.recipients] == [("c@example.net", "hard", True)]
    assert report.is_bounce
