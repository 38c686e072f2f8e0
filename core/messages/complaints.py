"""A server's complaints: the feedback reports (RFC 5965) that recipients' mailbox providers sent
about its messages, each linked to the message it is about."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Row, bindparam, func, insert, select

from models.base import table
from models.message.complaint import Complaint

COMPLAINTS = table(Complaint)
INSERT = insert(COMPLAINTS)


@dataclass(frozen=True)
class NewComplaint:
    message_id: int
    address: str
    feedback_type: str
    report_message_id: int | None = None
    user_agent: str | None = None
    arrival_date: str | None = None


def add_many(conn: Connection, items: Sequence[NewComplaint], timestamp: float) -> None:
    if items:
        conn.execute(
            INSERT,
            [
                {
                    "message_id": c.message_id,
                    "report_message_id": c.report_message_id,
                    "address": c.address.strip().lower()[:255],
                    "feedback_type": c.feedback_type[:40],
                    "user_agent": (c.user_agent or "")[:255] or None,
                    "arrival_date": (c.arrival_date or "")[:255] or None,
                    "timestamp": timestamp,
                }
                for c in items
            ],
        )


def page_after(
    conn: Connection, after_id: int | None, limit: int, message_id: int | None = None
) -> Sequence[Row[tuple[object, ...]]]:
    """Complaints in the order they arrived (by id), after `after_id` when given."""
    query = select(COMPLAINTS).order_by(COMPLAINTS.c.id).limit(limit)
    if after_id is not None:
        query = query.where(COMPLAINTS.c.id > after_id)
    if message_id is not None:
        query = query.where(COMPLAINTS.c.message_id == message_id)
    return conn.execute(query).all()


REPORTED_IN = select(COMPLAINTS.c.id).where(COMPLAINTS.c.report_message_id == bindparam("b_report")).limit(1)


def reported_in(conn: Connection, report_message_id: int) -> bool:
    """Whether the complaints of this report (an incoming message) are recorded already."""
    return conn.execute(REPORTED_IN, {"b_report": report_message_id}).first() is not None


def newest(conn: Connection, limit: int) -> Sequence[Row[tuple[object, ...]]]:
    return conn.execute(select(COMPLAINTS).order_by(COMPLAINTS.c.id.desc()).limit(limit)).all()


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(COMPLAINTS)).scalar() or 0)
