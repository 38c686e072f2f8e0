"""Complaints: feedback reports (ARF, RFC 5965) about the server's messages, arriving at its
return path or at any address it routes (the address an operator gave a mailbox provider's
feedback loop). Beyond Postal, which treats them as bounces or ordinary mail.

A complaint puts the recipient on the suppression list (reason `complaint`), is stored with the
message it is about (`complaints`), noted in that message's activity, counted in the statistics,
and fires `MessageComplaint`, which only webhooks that choose it by name receive."""

from __future__ import annotations

from typing import Any

from core.mail import arf
from core.messages.complaints import NewComplaint
from core.messages.deliveries import NewDelivery
from core.queue.outcome import Outcome, send_result
from core.webhooks.events import message_payload
from models.enums import MessageStatus
from models.message.message import Message

COMPLAINT_EVENT = "MessageComplaint"
COMPLAINT_REASON = "complaint"


def maybe_feedback_report(raw: bytes) -> arf.FeedbackReport | None:
    """The feedback report `raw` is, or None; most mail is not one, and is not parsed for it."""
    if b"feedback-report" not in raw and b"Feedback-Report" not in raw:
        return None
    return arf.parse(raw)


def link_complaint(msg: Any, report: arf.FeedbackReport, originals: list[Any], outcome: Outcome) -> None:
    """Record what the report says of each message it is about. Where the report names the
    recipient (`Original-Rcpt-To`), only that recipient's copies; providers that redact it leave
    every linked message."""
    named = set(report.original_rcpt_to)
    about = [o for o in originals if (o.rcpt_to or "").lower() in named] or originals
    first = about[0]
    if msg.bounce:
        outcome.message_changes.update(bounce_for_id=first.id, domain_id=first.domain_id)
    what = "a complaint" if report.complaint else f"a feedback report ({report.feedback_type})"
    outcome.result = send_result(MessageStatus.PROCESSED, f"This has been detected as {what} about <msg:{first.id}>.")
    by = f" from {report.user_agent}" if report.user_agent else ""
    view = dict(msg._mapping)
    view.update(outcome.message_changes)
    details = f"We've received {what}{by} about this e-mail. See <msg:{msg.id}> for details."
    for original in about:
        outcome.related_deliveries.append(NewDelivery.note(original, details))
        if not report.complaint:
            continue
        address = original.rcpt_to or (report.original_rcpt_to[0] if report.original_rcpt_to else "")
        if not address:
            continue
        outcome.suppress_addresses.append((address, COMPLAINT_REASON))
        outcome.complaints.append(
            NewComplaint(
                message_id=original.id,
                address=address,
                feedback_type=report.feedback_type,
                report_message_id=msg.id,
                user_agent=report.user_agent,
                arrival_date=report.arrival_date,
            )
        )
        outcome.events.append(
            (
                COMPLAINT_EVENT,
                {
                    "original_message": message_payload(original),
                    "complaint": message_payload(Message(**view)),
                    "address": address.lower(),
                    "feedback_type": report.feedback_type,
                    "user_agent": report.user_agent,
                    "arrival_date": report.arrival_date,
                },
            )
        )
