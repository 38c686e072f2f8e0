"""Incoming mail's part of the dequeue pipeline: Postal's steps of reference §4.2 in order, with
spam and virus inspection (§4.5), the route's mode, and forwarding to its endpoint (§4.3).

The functions here decide an `Outcome` for one message; `core.jobs.dequeue` loads the messages of
a job, calls `process_incoming` for each incoming one, and the recorder stores the outcomes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import inspection
from core.incoming.bounces import UNLINKED_BOUNCE, bounce_to_sender, link_bounce, originals_of, send_bounce
from core.incoming.complaints import link_complaint, maybe_feedback_report
from core.incoming.endpoints import load_endpoint
from core.incoming.forwarding import to_address, to_http, to_smtp
from core.mail.headers import split_raw
from core.messages import complaints
from core.queue.outcome import DEVELOPMENT_MODE, BatchContext, Outcome, send_result
from models.endpoint import AddressEndpoint, HTTPEndpoint, SMTPEndpoint
from models.enums import MessageStatus, RouteMode, ServerMode, SpamMode
from models.queued_message import QueuedMessage
from models.route import Route

NO_ROUTE = "Message does not have a route and/or endpoint available for delivery."
QUARANTINED = "Message placed into quarantine."
SPAM_FAILED = "Message is spam and the route specifies it should be failed."
ACCEPTED_ONLY = "Message has been accepted but not sent to any endpoints."
PROCESSED = "Message has been processed."
INVALID_ENDPOINT = "Invalid endpoint for route."


def process_incoming(context: BatchContext, row: QueuedMessage, msg: Any, raw: bytes) -> Outcome:
    """Reference §4.2, steps 1-13."""
    server = context.state.server
    outcome = Outcome(send_result(MessageStatus.PENDING, ""))

    def stop(status: MessageStatus, details: str, **kwargs: Any) -> Outcome:
        outcome.result = send_result(status, details, **kwargs)
        return outcome

    # 1. A bounce of one of our messages.
    # A feedback report (a complaint) about one of our messages, at the return path or at any
    # routed address (a feedback loop's), is recorded, then goes on like any other mail.
    # What goes on to a route after being linked is linked once: a retry of its delivery to the
    # route (the endpoint was down) finds the link recorded and does not note, suppress or fire
    # webhooks again; an operator's retry does it all again.
    feedback = maybe_feedback_report(raw)
    if msg.bounce:
        originals = originals_of(context, msg, raw)
        linked = msg.bounce_for_id is not None and msg.route_id is not None and not row.manual
        if originals and feedback is not None:
            if not linked:
                link_complaint(msg, feedback, originals, outcome)
            if msg.route_id is None:
                return outcome
        elif originals and not linked:
            # A delay warning, receipt or automatic reply is linked and noted, then goes on to the
            # server's `__returnpath__` route when it has one.
            if link_bounce(context, msg, raw, originals, outcome) or msg.route_id is None:
                return outcome
        elif not originals and msg.route_id is None:
            return stop(MessageStatus.HARD_FAIL, UNLINKED_BOUNCE)
    elif feedback is not None and (row.manual or not complaints.reported_in(context.conn, msg.id)):
        originals = originals_of(context, msg, raw, return_path=False)
        if originals:
            link_complaint(msg, feedback, originals, outcome)

    # 2. Live statistics.
    outcome.count_live = True
    outcome.live_kind = "incoming"

    # 3. Spam and virus inspection, once.
    spam, score = bool(msg.spam), float(msg.spam_score or 0.0)
    if not msg.inspected:
        spam, score, raw = _inspect(context, msg, raw, outcome)

    # 4. Over the failure threshold.
    if score >= float(server.spam_failure_threshold):
        return stop(
            MessageStatus.HARD_FAIL,
            "Message's spam score is higher than the failure threshold for this server. "
            f"Threshold is currently {float(server.spam_failure_threshold)}.",
        )

    # 5. Development mode.
    if server.mode == ServerMode.DEVELOPMENT and not row.manual:
        return stop(MessageStatus.HELD, DEVELOPMENT_MODE)

    # 6. A route to follow.
    route = _route(context, msg.route_id)
    if route is None:
        return stop(MessageStatus.HARD_FAIL, NO_ROUTE)

    # 7. Spam, as the route wants it.
    if spam and not row.manual:
        if route.spam_mode == SpamMode.QUARANTINE:
            return stop(MessageStatus.HELD, QUARANTINED)
        if route.spam_mode == SpamMode.FAIL:
            return stop(MessageStatus.HARD_FAIL, SPAM_FAILED)

    # 8-10. Modes that deliver nowhere.
    if route.mode == RouteMode.ACCEPT:
        return stop(MessageStatus.PROCESSED, ACCEPTED_ONLY)
    if route.mode == RouteMode.HOLD:
        if row.manual:
            return stop(MessageStatus.PROCESSED, PROCESSED)
        return stop(MessageStatus.HELD, ACCEPTED_ONLY)
    if route.mode in (RouteMode.BOUNCE, RouteMode.REJECT):
        bounce_id = send_bounce(context, msg, raw, "The route for this address bounces every message.")
        if bounce_id is None:
            # Nobody to tell: the row goes, the message keeps its status (Postal's behaviour).
            outcome.record_delivery = False
            return stop(MessageStatus.HARD_FAIL, "")
        return stop(
            MessageStatus.HARD_FAIL,
            f"Message has been bounced because the route asks for this. See message <msg:{bounce_id}>",
        )

    # 11. The endpoint.
    endpoint = _endpoint(context, msg.endpoint_type, msg.endpoint_id)
    if isinstance(endpoint, HTTPEndpoint):
        outcome.result = to_http(context, msg, raw, endpoint, outcome.message_changes)
    elif isinstance(endpoint, SMTPEndpoint):
        outcome.result = to_smtp(context, msg, raw, endpoint)
    elif isinstance(endpoint, AddressEndpoint):
        outcome.result = to_address(context, msg, raw, endpoint)
    else:
        return stop(MessageStatus.HARD_FAIL, INVALID_ENDPOINT)

    # 12. A permanent failure is reported to the sender.
    if outcome.result.status == MessageStatus.HARD_FAIL.value and not outcome.result.suppress_bounce:
        bounce_to_sender(context, msg, raw, outcome)

    # 13. Retried by the recorder if the result says so; else the endpoint has been used.
    if not outcome.result.retry:
        outcome.endpoint_used = (str(msg.endpoint_type), int(msg.endpoint_id))
    return outcome


# -- routes and endpoints -------------------------------------------------------------------------


def _route(context: BatchContext, route_id: int | None) -> Route | None:
    if route_id is None:
        return None
    if route_id not in context.routes:
        with context.runtime.db.reader.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            route = session.get(Route, route_id)
            if route is not None:
                session.expunge(route)
            context.routes[route_id] = route
    return context.routes[route_id]


def _endpoint(context: BatchContext, kind: str | None, endpoint_id: int | None) -> Any:
    if kind is None or endpoint_id is None:
        return None
    key = (str(kind), int(endpoint_id))
    if key not in context.endpoints:
        with context.runtime.db.reader.connect() as conn, Session(bind=conn, expire_on_commit=False) as session:
            endpoint = load_endpoint(session, kind, endpoint_id)
            if endpoint is not None and endpoint.server_id != context.state.server.id:
                endpoint = None
            if endpoint is not None:
                session.expunge(endpoint)
            context.endpoints[key] = endpoint
    return context.endpoints[key]


# -- inspection -----------------------------------------------------------------------------------


def _inspect(context: BatchContext, msg: Any, raw: bytes, outcome: Outcome) -> tuple[bool, float, bytes]:
    """Inspect once (reference §4.2 step 3): store the result and the checks, prepend the
    X-Postal-Spam headers. Without any inspector configured nothing is recorded: the message
    stays unchecked (`NotChecked`) rather than claim a verdict nobody made."""
    server = context.state.server
    result = inspection.inspect_message(
        context.runtime.config, raw, msg.mail_from or "", msg.rcpt_to or "", msg.token, outgoing=False
    )
    if result is None:
        return False, 0.0, raw
    outcome.message_changes["inspected"] = True
    threshold = float(server.spam_threshold)
    score = round(float(result.spam_score), 2)
    spam = score > threshold
    outcome.message_changes.update(
        spam=spam,
        spam_score=score,
        threat=result.threat,
        threat_details=(result.threat_message or "")[:255] or None,
    )
    outcome.spam_checks = [(c.code, float(c.score), c.description[:255] or None) for c in result.checks]
    added = (
        f"X-Postal-Spam: {'yes' if spam else 'no'}\r\n"
        f"X-Postal-Spam-Threshold: {threshold}\r\n"
        f"X-Postal-Spam-Score: {score}\r\n"
        f"X-Postal-Threat: {'yes' if result.threat else 'no'}\r\n"
    ).encode()
    header_block, body = split_raw(raw)
    outcome.stored_headers = added + header_block
    return spam, score, outcome.stored_headers + body
