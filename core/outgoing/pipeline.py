"""Outgoing mail's part of the dequeue pipeline: Postal's checks of reference §3.3 in order, then
the SMTP delivery to the recipient's MX, and the suppression list's response to the result.

`core.jobs.dequeue` runs the checks every message passes (§3.2) and hands each outgoing message
to `process_outgoing`, which decides its `Outcome`; the recorder stores the outcomes together.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import bindparam, func, select

from core import inspection
from core.mail import dkim
from core.mail.address import domain_of
from core.mail.headers import join_raw, parse_headers, split_raw
from core.messages import suppressions
from core.outgoing import tracking
from core.outgoing.sessions import return_path, sender_pool
from core.queue.outcome import DEVELOPMENT_MODE, BatchContext, Outcome, send_result
from core.runtime import Runtime
from core.signing import signing_key
from models.base import table, utcnow
from models.domain import Domain
from models.enums import DNSStatus, MessageStatus, ServerMode
from models.message.message import Message
from models.queued_message import QueuedMessage

MESSAGES = table(Message)
RECENT_HARD_FAILS = select(func.count()).where(
    MESSAGES.c.rcpt_to == bindparam("b_rcpt"),
    MESSAGES.c.status == MessageStatus.HARD_FAIL.value,
    MESSAGES.c.timestamp > bindparam("b_since"),
)

CREDENTIAL_HOLD = "Credential is configured to hold all messages authenticated by it."


def process_outgoing(context: BatchContext, row: QueuedMessage, msg: Any, raw: bytes) -> Outcome:
    """Reference §3.3: the checks in Postal's order, then the SMTP delivery."""
    runtime, state = context.runtime, context.state
    config = runtime.config
    domain = state.domains.get(msg.domain_id) if msg.domain_id is not None else None
    if domain is None:
        return Outcome(send_result(MessageStatus.HARD_FAIL, "Message's domain no longer exist"))
    rcpt_to = msg.rcpt_to
    if not rcpt_to:
        return Outcome(send_result(MessageStatus.HARD_FAIL, "Message doesn't have an RCPT to"))

    header_block, body = split_raw(raw)
    headers = parse_headers(header_block)
    outcome = Outcome(send_result(MessageStatus.PENDING, ""))
    if msg.tag is None:
        tags = headers.get_all("X-Postal-Tag") or []
        if tags:
            outcome.tag = str(tags[-1]).strip()[:255]

    def stop(status: MessageStatus, details: str) -> Outcome:
        outcome.result = send_result(status, details)
        return outcome

    if not row.manual and msg.credential_id is not None and msg.credential_id in state.holding_credentials:
        return stop(MessageStatus.HELD, CREDENTIAL_HOLD)

    now = time.time()
    rcpt_key = suppressions.normalise(rcpt_to)
    if not row.manual:
        entry = context.suppressed.get(rcpt_key)
        if entry is not None:
            return stop(
                MessageStatus.HELD, f"Recipient ({rcpt_to}) is on the suppression list (reason: {entry.reason})"
            )

    # Reference §3.3 step 5: the tracking rewrite (§3.5), stored below once the message is signed.
    rewrite = None
    if not msg.parsed and tracking.wanted(headers):
        rewrite = tracking.prepare(context, msg, header_block, body)
    if rewrite is not None and rewrite.changed:
        header_block, body = rewrite.header_block, rewrite.body
        headers = parse_headers(header_block)
        raw = join_raw(header_block, body)

    threshold = state.server.outbound_spam_threshold
    if threshold is not None and not msg.inspected:
        score = inspect_outgoing(context, msg, raw, outcome)
        if score is not None and score >= float(threshold):
            return stop(
                MessageStatus.HARD_FAIL,
                f"Message is likely spam. Threshold is {float(threshold)} and the message scored {score}.",
            )

    if headers.get("X-Postal-MsgID") is None:
        header_block = _stored_headers(runtime, domain, header_block, body, msg.token, int(now))
        outcome.stored_headers = header_block
        raw = join_raw(header_block, body)
    if rewrite is not None:
        tracking.store(context, msg, rewrite, header_block)
        if rewrite.changed:  # the signed header block is stored with the rewritten body
            outcome.stored_headers = None

    server = state.server
    if server.send_limit is not None:
        sent = context.sent_in_hour
        if sent >= server.send_limit:
            outcome.server_changes = {"send_limit_exceeded_at": utcnow(), "send_limit_approaching_at": None}
            return stop(MessageStatus.HELD, f"Message held because send limit ({server.send_limit}) has been reached.")
        if sent >= server.send_limit * 0.9:
            outcome.server_changes = {"send_limit_approaching_at": utcnow(), "send_limit_exceeded_at": None}
        elif server.send_limit_approaching_at is not None or server.send_limit_exceeded_at is not None:
            outcome.server_changes = {"send_limit_approaching_at": None, "send_limit_exceeded_at": None}

    outcome.count_live = True
    context.sent_in_hour += 1

    if server.mode == ServerMode.DEVELOPMENT and not row.manual:
        return stop(MessageStatus.HELD, DEVELOPMENT_MODE)

    mail_from = return_path(runtime, server, domain, bool(msg.bounce), msg.token)
    if config.postal.use_resent_sender_header:
        raw = f"Resent-Sender: {mail_from}\r\n".encode() + raw
    source = runtime.pools.get().addresses.get(row.ip_address_id) if row.ip_address_id is not None else None
    with sender_pool(runtime).session((domain_of(rcpt_to), source)) as sender:
        outcome.result = sender.send(mail_from, rcpt_to, raw)

    if outcome.result.status == MessageStatus.HARD_FAIL.value:
        recent = context.conn.execute(RECENT_HARD_FAILS, {"b_rcpt": rcpt_to, "b_since": now - 86400}).scalar()
        recent = (recent or 0) + context.hard_fails.get(rcpt_key, 0)
        context.hard_fails[rcpt_key] = context.hard_fails.get(rcpt_key, 0) + 1
        if recent:
            outcome.suppress = "too many hard fails"
            outcome.extra_details.append("Recipient added to suppression list (too many hard fails)")
            context.suppressed[rcpt_key] = outcome
    elif outcome.result.status == MessageStatus.SENT.value and rcpt_key in context.suppressed:
        outcome.unsuppress = True
        outcome.extra_details.append("Recipient removed from suppression list")
        del context.suppressed[rcpt_key]
    return outcome


def _stored_headers(runtime: Runtime, domain: Domain, header_block: bytes, body: bytes, token: str, now: int) -> bytes:
    """Prepend `DKIM-Signature` and `X-Postal-MsgID` (reference §3.3 step 7, §3.4): the domain's
    own key once its DKIM record checks out, else the installation key for the return path domain."""
    config = runtime.config
    if domain.dkim_status == DNSStatus.OK:
        pem, d = domain.dkim_private_key, domain.name
        selector = f"{config.dns.dkim_identifier}-{domain.dkim_identifier_string}"
    else:
        pem = signing_key(config.signing_key_path).pem
        d, selector = config.dns.return_path_domain, config.dns.dkim_identifier
    signature = dkim.sign(header_block, body, d, selector, pem, now)
    return signature + f"X-Postal-MsgID: {token}\r\n".encode() + header_block


def inspect_outgoing(context: BatchContext, msg: Any, raw: bytes, outcome: Outcome) -> float | None:
    """Reference §3.3 step 6: the score of an outgoing message, stored with its checks; None when
    no inspector is configured."""
    result = inspection.inspect_message(
        context.runtime.config, raw, msg.mail_from or "", msg.rcpt_to or "", msg.token, outgoing=True
    )
    if result is None:
        return None
    outcome.message_changes["inspected"] = True
    score = round(float(result.spam_score), 2)
    outcome.message_changes.update(
        spam_score=score, threat=result.threat, threat_details=(result.threat_message or "")[:255] or None
    )
    outcome.spam_checks = [(c.code, float(c.score), c.description[:255] or None) for c in result.checks]
    return score
