"""Putting stored messages on the queue, for outgoing and incoming submission alike: the queue
rows, the installation's message counters, publishing after the commit (STYLE rule 7), undoing
the message rows when queueing fails, and the answers a submission gets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, delete, insert, update

from core.broker import BrokerUnavailable
from core.errors import PostalError
from core.queue.queued_messages import unpublish
from core.runtime import Runtime
from models.base import table
from models.message.message import Message
from models.queued_message import QueuedMessage
from models.statistic import Statistic

log = logging.getLogger(__name__)


class SubmissionRejected(PostalError):
    """The message is refused; `code` is the HTTP API error code, the text its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ServerSuspended(SubmissionRejected):
    def __init__(self) -> None:
        super().__init__("ServerSuspended", "Mail server has been suspended")


class NoRecipients(SubmissionRejected):
    def __init__(self) -> None:
        super().__init__("NoRecipients", "There are no recipients defined to receive this message")


class TemporaryFailure(SubmissionRejected):
    """Nothing was stored (a database could not be reached); the client should try again."""

    def __init__(self) -> None:
        super().__init__("TemporaryError", "The message could not be stored; try again later")


@dataclass
class Accepted:
    message_id: str | None
    # (recipient, message id, token) per recipient, in order.
    messages: list[tuple[str, int, str]] = field(default_factory=list)


MESSAGES = table(Message)


QUEUED = table(QueuedMessage)


STATISTICS = table(Statistic)


# Built once: building a statement costs far more than running it.
INSERT_MESSAGES = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)


INSERT_QUEUED = insert(QUEUED).returning(QUEUED.c.id, sort_by_parameter_order=True)


COUNT_MESSAGES = update(STATISTICS).values(
    total_messages=STATISTICS.c.total_messages + bindparam("b_outgoing") + bindparam("b_incoming"),
    total_outgoing=STATISTICS.c.total_outgoing + bindparam("b_outgoing"),
    total_incoming=STATISTICS.c.total_incoming + bindparam("b_incoming"),
)


def count_messages(conn: Connection, outgoing: int = 0, incoming: int = 0) -> None:
    """The installation-wide counters (one row, created by `postal initialize`)."""
    updated = conn.execute(COUNT_MESSAGES, {"b_outgoing": outgoing, "b_incoming": incoming}).rowcount
    if not updated:
        conn.execute(
            insert(STATISTICS).values(
                total_messages=outgoing + incoming, total_outgoing=outgoing, total_incoming=incoming
            )
        )


def forget_messages(runtime: Runtime, server_id: int, created: list[tuple[int, str, int, str]]) -> None:
    """Undo the message rows when queueing failed, so a client's retry does not leave twins."""
    try:
        with runtime.message_dbs.get(server_id).transaction() as conn:
            conn.execute(delete(MESSAGES).where(MESSAGES.c.id.in_([c[2] for c in created])))
    except Exception:
        log.exception("could not remove %d unqueued messages of server %d", len(created), server_id)


def publish_queued(runtime: Runtime, queued: list[tuple[int, str]]) -> None:
    """Publish after commit. A broker failure loses nothing: the requeuer finds the rows."""
    try:
        runtime.require_publisher().publish_queued_messages(queued)
    except BrokerUnavailable as exc:
        log.warning("%s; %d queued messages will be published by the requeuer", exc, len(queued))
        try:
            unpublish(runtime.db.engine, [q[0] for q in queued])
        except Exception:
            log.exception("could not mark queued messages unpublished; the requeuer finds them later anyway")
