"""Status changes of a message: one function records the delivery row and sets the status (STYLE rule 16)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from models.base import table
from models.enums import MessageStatus
from models.message.delivery import Delivery
from models.message.message import Message

MESSAGES = table(Message)
DELIVERIES = table(Delivery)
# Postal stores at most this much of `output` and `details`.
MAX_TEXT = 250

FINAL_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.HARD_FAIL,
        MessageStatus.BOUNCED,
        MessageStatus.HOLD_CANCELLED,
        MessageStatus.PROCESSED,
    }
)


# Built once: building a statement costs far more than running it (about 0.2 ms each).
INSERT_DELIVERY = insert(DELIVERIES)
SET_STATUS = (
    update(MESSAGES)
    .where(MESSAGES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        held=bindparam("b_held"),
        hold_expiry=bindparam("b_hold_expiry"),
        last_delivery_attempt=bindparam("b_last_attempt"),
    )
)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def add_delivery(
    conn: Connection,
    message_id: int,
    status: MessageStatus,
    details: str,
    output: str | None = None,
    sent_with_ssl: bool = False,
    log_id: str | None = None,
    time_taken: float | None = None,
    hold_expiry: float | None = None,
    timestamp: float | None = None,
) -> int:
    """Record a delivery and make its status the message's status; returns the delivery id."""
    now = timestamp if timestamp is not None else time.time()
    result = conn.execute(
        INSERT_DELIVERY,
        {
            "message_id": message_id,
            "status": status.value,
            "details": _clip(details),
            "output": _clip(output),
            "sent_with_ssl": sent_with_ssl,
            "log_id": log_id,
            "time": time_taken,
            "timestamp": now,
        },
    )
    held = status is MessageStatus.HELD
    conn.execute(
        SET_STATUS,
        {
            "b_id": message_id,
            "b_status": status.value,
            "b_held": held,
            "b_hold_expiry": hold_expiry if held else None,
            "b_last_attempt": now,
        },
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


@dataclass(frozen=True)
class NewDelivery:
    message_id: int
    status: MessageStatus
    details: str
    output: str | None = None
    sent_with_ssl: bool = False
    log_id: str | None = None
    time_taken: float | None = None
    hold_expiry: float | None = None
    # An entry in the message's activity only (a delay warning or an automatic reply about it):
    # the message keeps its status, which is the status of its latest real delivery.
    note_only: bool = False

    @classmethod
    def note(cls, message: Any, details: str) -> NewDelivery:
        """An activity note on `message` (a row with `id` and `status`) that keeps its status."""
        return cls(message_id=message.id, status=MessageStatus(message.status), details=details, note_only=True)


def add_deliveries(conn: Connection, items: Sequence[NewDelivery], timestamp: float | None = None) -> None:
    """`add_delivery` for several messages in two statements (executemany)."""
    if not items:
        return
    now = timestamp if timestamp is not None else time.time()
    conn.execute(
        INSERT_DELIVERY,
        [
            {
                "message_id": d.message_id,
                "status": d.status.value,
                "details": _clip(d.details),
                "output": _clip(d.output),
                "sent_with_ssl": d.sent_with_ssl,
                "log_id": d.log_id,
                "time": d.time_taken,
                "timestamp": now,
            }
            for d in items
        ],
    )
    changes = [
        {
            "b_id": d.message_id,
            "b_status": d.status.value,
            "b_held": d.status is MessageStatus.HELD,
            "b_hold_expiry": d.hold_expiry if d.status is MessageStatus.HELD else None,
            "b_last_attempt": now,
        }
        for d in items
        if not d.note_only
    ]
    if changes:
        conn.execute(SET_STATUS, changes)


def deliveries_for(conn: Connection, message_id: int) -> Sequence[Delivery]:
    rows = conn.execute(select(DELIVERIES).where(DELIVERIES.c.message_id == message_id).order_by(DELIVERIES.c.id))
    return [Delivery(**row) for row in rows.mappings()]
