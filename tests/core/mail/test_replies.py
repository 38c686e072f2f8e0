"""SMTP reply classification (reference §3.7): which replies are temporary and which permanent."""

from __future__ import annotations

import pytest

from core.mail.replies import ReplyClass, classify


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (250, ReplyClass.SENT),
        (251, ReplyClass.SENT),
        (421, ReplyClass.SOFT),
        (450, ReplyClass.SOFT),
        (452, ReplyClass.SOFT),
        (500, ReplyClass.SOFT),  # 50x: syntax errors are Net::SMTPSyntaxError, retried
        (503, ReplyClass.SOFT),
        (530, ReplyClass.SOFT),  # 53x: authentication problems, retried
        (535, ReplyClass.SOFT),
        (550, ReplyClass.HARD),
        (551, ReplyClass.HARD),
        (552, ReplyClass.HARD),
        (553, ReplyClass.HARD),
        (554, ReplyClass.HARD),
        (510, ReplyClass.HARD),
        (521, ReplyClass.HARD),
        (600, ReplyClass.SOFT),  # unknown codes are retried
        (300, ReplyClass.SOFT),
    ],
)
def test_reply_classes(code: int, kind: ReplyClass) -> None:
    assert classify(code, "text").kind is kind


@pytest.mark.parametrize(
    ("text", "retry_in"),
    [
        ("451 4.7.1 Greylisted, try again in 120 seconds", 130),
        ("421 Too many connections, try again in 5 minutes", 310),
        ("450 mailbox busy", None),
    ],
)
def test_retry_hints_are_honoured(text: str, retry_in: int | None) -> None:
    assert classify(int(text[:3]), text).retry_in == retry_in
