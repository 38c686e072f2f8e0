"""What processing one queued message decided (`Outcome`), and what the messages of one server in
one job share while they are processed (`BatchContext`).

The outgoing and incoming pipelines only decide; `core.queue.recorder` writes the outcomes of a
job together, so that the pipelines never touch the queue rows or the message database's
bookkeeping themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from core.caches import ServerState
from core.mail.smtp_client import SendResult, SMTPSender
from core.messages.complaints import NewComplaint
from core.messages.deliveries import NewDelivery
from core.runtime import Runtime
from models.enums import MessageStatus

DEVELOPMENT_MODE = "Server is in development mode."


@dataclass
class Outcome:
    """What the pipeline decided for one message, to be recorded in one go."""

    result: SendResult
    # The header block to store in place of the message's own: DKIM-Signature and X-Postal-MsgID
    # prepended to outgoing mail, the X-Postal-Spam headers to incoming mail.
    stored_headers: bytes | None = None
    tag: str | None = None
    count_live: bool = False
    live_kind: str = "outgoing"
    suppress: str | None = None
    unsuppress: bool = False
    extra_details: list[str] = field(default_factory=list)
    # Send-limit timestamps of the server to store (column → value).
    server_changes: dict[str, Any] = field(default_factory=dict)
    # Columns of the message to change (inspection results, the original a bounce is for).
    message_changes: dict[str, Any] = field(default_factory=dict)
    # Spam checks to store for the message: (code, score, description).
    spam_checks: list[tuple[str, float, str | None]] = field(default_factory=list)
    # Deliveries of other messages of the server (the originals of a bounce).
    related_deliveries: list[NewDelivery] = field(default_factory=list)
    # Webhook events besides the one of the delivery's status.
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Addresses to add to the server's suppression list: (address, reason).
    suppress_addresses: list[tuple[str, str]] = field(default_factory=list)
    # Complaints (feedback reports) about other messages of the server.
    complaints: list[NewComplaint] = field(default_factory=list)
    # False when the queue row goes without a delivery (a route's bounce that cannot be sent).
    record_delivery: bool = True
    # The endpoint that took the message, to mark used: (endpoint type, id).
    endpoint_used: tuple[str, int] | None = None

    @property
    def details(self) -> str:
        text = self.result.details
        for extra in self.extra_details:
            if not text.endswith("."):
                text += "."
            text += " " + extra
        return text


def send_result(status: MessageStatus, details: str, **kwargs: Any) -> SendResult:
    """A result of the pipeline's own making (a hold, a check that failed), shaped like a delivery's."""
    return SendResult(status.value, details, **kwargs)


@dataclass
class BatchContext:
    """What the messages of one server in one job share, read once."""

    runtime: Runtime
    state: ServerState
    conn: Connection
    suppressed: dict[str, Any]
    sent_in_hour: int
    hard_fails: dict[str, int] = field(default_factory=dict)
    # Incoming mail: routes and endpoints read once per job, SMTP sessions to SMTP endpoints.
    routes: dict[int, Any] = field(default_factory=dict)
    endpoints: dict[tuple[str, int], Any] = field(default_factory=dict)
    endpoint_senders: dict[int, SMTPSender] = field(default_factory=dict)

    def close(self) -> None:
        for sender in self.endpoint_senders.values():
            sender.finish()
        self.endpoint_senders.clear()
