"""Feedback reports (ARF, RFC 5965): a mailbox provider telling the sender that a recipient
marked its message as spam (or fraud, or a virus).

A report is `multipart/report; report-type=feedback-report`: a human-readable part, a
`message/feedback-report` part of fields (`Feedback-Type`, `User-Agent`, `Original-Rcpt-To`,
`Arrival-Date`, `Source-IP` …) and the reported message or its headers, where the original's
`X-Postal-MsgID` links the report to the message it is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from core.mail.dsn import address_field, postal_message_ids, untyped

FEEDBACK_PART = "message/feedback-report"
# Feedback types that are no complaint about the message: RFC 6430's "not-spam" (the user took it
# out of the spam folder) and RFC 6591's authentication failure reports.
NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})


@dataclass(frozen=True)
class FeedbackReport:
    feedback_type: str  # lower-case: abuse, fraud, virus, other, not-spam, auth-failure …
    user_agent: str | None
    version: str | None
    original_rcpt_to: list[str]  # lower-case addresses of every Original-Rcpt-To field
    original_mail_from: str | None
    arrival_date: str | None
    reporting_mta: str | None
    source_ip: str | None
    postal_message_ids: list[str]  # every X-Postal-MsgID token in the raw report

    @property
    def complaint(self) -> bool:
        """Whether the recipient complained about the message (not a "not spam" or auth report)."""
        return self.feedback_type not in NOT_COMPLAINTS


def is_feedback_report(message: Message) -> bool:
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "", header="content-type") or "")
        if report_type.lower() == "feedback-report":
            return True
    return any(part.get_content_type() == FEEDBACK_PART for part in message.walk())


def parse(raw: bytes) -> FeedbackReport | None:
    """The report's fields, or None when `raw` is no feedback report."""
    message = message_from_bytes(raw, policy=compat32)
    if not is_feedback_report(message):
        return None
    part = next((p for p in message.walk() if p.get_content_type() == FEEDBACK_PART), None)
    fields: dict[str, list[str]] = {}
    if part is not None:
        for name, value in _field_items(part):
            fields.setdefault(name.strip().lower(), []).append(" ".join(str(value).split()))

    def first(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    return FeedbackReport(
        feedback_type=(first("feedback-type") or "other").lower(),
        user_agent=first("user-agent"),
        version=first("version"),
        original_rcpt_to=[a for v in fields.get("original-rcpt-to", []) if (a := address_field(v))],
        original_mail_from=address_field(first("original-mail-from")),
        arrival_date=first("arrival-date") or first("received-date"),
        reporting_mta=untyped(first("reporting-mta")),
        source_ip=first("source-ip"),
        postal_message_ids=postal_message_ids(raw),
    )


def _field_items(part: Message) -> list[tuple[str, str]]:
    """The fields of a message/feedback-report part (the parser gives them as one or more blocks)."""
    payload = part.get_payload()
    blocks: list[Message] = []
    if isinstance(payload, list):
        blocks = [block for block in payload if isinstance(block, Message)]
    elif isinstance(payload, str):
        blocks = [HeaderParser(policy=compat32).parsestr(payload.lstrip("\r\n"))]
    items: list[tuple[str, str]] = []
    for block in blocks:
        items += [(name, str(value)) for name, value in block.raw_items()]
    return items
