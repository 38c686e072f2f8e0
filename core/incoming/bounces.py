"""Bounces: linking one that reached a return path to the outgoing messages it is about
(reference §4.2 step 1, with RFC 3464 deciding hard from soft), and bounce messages of our own
to the senders of incoming mail that failed (reference §4.4)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select

from core.mail import dsn
from core.mail.address import strip_tag
from core.mail.bounce_message import build_bounce
from core.messages.deliveries import NewDelivery
from core.outgoing.submission import submit_bounce
from core.queue.outcome import BatchContext, Outcome, send_result
from core.webhooks.events import message_payload
from models.base import table
from models.enums import MessageScope, MessageStatus
from models.message.message import Message

MESSAGES = table(Message)
UNLINKED_BOUNCE = (
    "This message was a bounce but we couldn't link it with any outgoing message and there was no route for it."
)
ORIGINALS = select(MESSAGES).where(
    MESSAGES.c.token.in_(bindparam("b_tokens", expanding=True)),
    MESSAGES.c.scope == MessageScope.OUTGOING.value,
)


def bounce_to_sender(context: BatchContext, msg: Any, raw: bytes, outcome: Outcome) -> None:
    """Reference §4.2 step 12 (and §3.2 step 6): tell the sender their message failed, unless it
    was itself a bounce or has no sender."""
    bounce_id = send_bounce(context, msg, raw, outcome.result.details)
    if bounce_id is not None:
        outcome.extra_details.append(f"Sent bounce message to sender (see message <msg:{bounce_id}>)")


def originals_of(context: BatchContext, msg: Any, raw: bytes, return_path: bool = True) -> list[Any]:
    """The outgoing messages a bounce is about: every `X-Postal-MsgID` token quoted in it (as
    Postal), and, at a return path, the message token of the VERP address it was sent to."""
    tokens = list(dict.fromkeys(dsn.postal_message_ids(raw)))
    local = (msg.rcpt_to or "").rsplit("@", 1)[0]
    if return_path and "+" in local:
        verp = local.split("+", 1)[1]
        if verp and verp not in tokens:
            tokens.append(verp)
    if not tokens:
        return []
    return list(context.conn.execute(ORIGINALS, {"b_tokens": tokens}).all())


def link_bounce(context: BatchContext, msg: Any, raw: bytes, originals: list[Any], outcome: Outcome) -> bool:
    """Reference §4.2 step 1, and beyond Postal: the delivery status notification tells a hard
    bounce (the recipient goes on the suppression list) from a delay warning, a delivery receipt or
    an automatic reply, which are linked and noted in the original's activity but never mark it
    bounced. Returns whether it was a bounce; if not, the caller may still hand the message to the
    server's `__returnpath__` route, as Postal does with return-path mail that is no bounce."""
    report = dsn.parse(raw)
    first = originals[0]
    outcome.message_changes.update(bounce_for_id=first.id, domain_id=first.domain_id)
    # A report naming no recipient (and no automatic reply) still counts as a bounce, as in Postal.
    if not report.is_bounce and (report.recipients or report.auto_reply):
        what = _what_it_is(report)
        outcome.result = send_result(MessageStatus.PROCESSED, f"This has been detected as {what} for <msg:{first.id}>.")
        outcome.extra_details.append("It reports no failure, so the original is not marked as bounced.")
        details = f"We've received {what} for this e-mail. See <msg:{msg.id}> for details."
        outcome.related_deliveries += [NewDelivery.note(original, details) for original in originals]
        return False
    outcome.result = send_result(
        MessageStatus.PROCESSED, f"This has been detected as a bounce message for <msg:{first.id}>."
    )
    bounce_view = dict(msg._mapping)
    bounce_view.update(outcome.message_changes)
    for original in originals:
        outcome.related_deliveries.append(
            NewDelivery(
                message_id=original.id,
                status=MessageStatus.BOUNCED,
                details=f"We've received a bounce message for this e-mail. See <msg:{msg.id}> for details.",
            )
        )
        outcome.events.append(
            (
                "MessageBounced",
                {"original_message": message_payload(original), "bounce": message_payload(Message(**bounce_view))},
            )
        )
        if _hard_for(report, original.rcpt_to or ""):
            outcome.suppress_addresses.append((original.rcpt_to, "hard bounce"))
    return True


def _what_it_is(report: dsn.DSNReport) -> str:
    """How a linked report that is no bounce is named in both messages' activity."""
    if report.auto_reply:
        return "an automatic reply"
    if any(not r.final for r in report.recipients):
        return "a delay warning"
    return "a delivery report"


def _hard_for(report: dsn.DSNReport, address: str) -> bool:
    """Whether the report says delivery to `address` failed permanently. A report naming other
    recipients only says nothing about this one; one naming nobody speaks for the message."""
    wanted = address.strip().lower()
    named = [r for r in report.recipients if r.final_recipient or r.original_recipient]
    mine = [r for r in named if wanted in (r.final_recipient, (r.original_recipient or "").lower())]
    if mine:
        return any(r.kind == "hard" for r in mine)
    if not named:
        return report.kind == "hard"
    return False


def send_bounce(context: BatchContext, msg: Any, raw: bytes, reason: str | None) -> int | None:
    """Make and queue a bounce message to the sender of `msg` (reference §4.4); None when there is
    nobody to tell (no sender, or the message is itself a bounce)."""
    if msg.bounce or not msg.mail_from:
        return None
    runtime, state = context.runtime, context.state
    server = state.server
    domain = state.domains.get(msg.domain_id) if msg.domain_id is not None else None
    postmaster = (
        server.postmaster_address or f"postmaster@{domain.name if domain else runtime.config.postal.web_hostname}"
    )
    from_address = strip_tag(msg.rcpt_to or "") if msg.rcpt_to else postmaster
    bounce = build_bounce(
        raw,
        original_token=msg.token,
        server_token=server.token,
        original_message_id=msg.message_id,
        mail_from=msg.mail_from,
        rcpt_to=msg.rcpt_to or "",
        subject=msg.subject or "",
        from_address=from_address,
        postmaster_address=postmaster,
        reason=reason,
        message_id=f"{uuid.uuid4()}@{runtime.config.dns.return_path_domain}",
    )
    bounce_id, _ = submit_bounce(runtime, state, msg.domain_id, msg.mail_from, bounce, msg.id)
    return bounce_id
