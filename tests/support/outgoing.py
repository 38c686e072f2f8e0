"""Helpers for tests of the outgoing pipeline: submit, run the queue, read back rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from core.jobs.dequeue import process_queued_message
from core.messages.raw_store import load_raw_message
from core.messages.view import deliveries_data
from core.outgoing.submission import Submission, submit
from models.base import table
from models.message.message import Message
from models.queued_message import QueuedMessage
from tests.conftest import Installation

RAW = b"From: Shop <orders@example.com>\r\nTo: c@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"
QM = table(QueuedMessage)
MESSAGES = table(Message)


def send(installation: Installation, *rcpts: str, raw: bytes = RAW, credential_id: int | None = None) -> list[int]:
    """Submit a message and return the ids of its queued rows (one per recipient, in order)."""
    accepted = submit(
        installation.runtime,
        Submission(
            server_id=installation.server_id,
            mail_from="orders@example.com",
            rcpt_to=list(rcpts),
            raw=raw,
            credential_id=credential_id,
        ),
    )
    ids = [mid for _, mid, _ in accepted.messages]
    with installation.runtime.db.engine.connect() as conn:
        rows = conn.execute(select(QM.c.id, QM.c.message_id).where(QM.c.message_id.in_(ids))).all()
    by_message = {mid: qid for qid, mid in rows}
    return [by_message[mid] for mid in ids]


def queued(installation: Installation, queued_id: int) -> Any:
    with installation.runtime.db.engine.connect() as conn:
        return conn.execute(select(QM).where(QM.c.id == queued_id)).mappings().first()


def queued_for(installation: Installation, message_id: int) -> Any:
    with installation.runtime.db.engine.connect() as conn:
        return conn.execute(select(QM).where(QM.c.message_id == message_id)).mappings().first()


def message(installation: Installation, message_id: int = 1) -> dict[str, Any]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).mappings().one()
        return {**row, "deliveries": deliveries_data(conn, message_id)}


def stored_raw(installation: Installation, message_id: int = 1) -> bytes:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).mappings().one()
        raw = load_raw_message(conn, row["raw_table"], row["raw_headers_id"], row["raw_body_id"])
    assert raw is not None
    return raw


def run_queue(installation: Installation) -> int:
    """Process every queued row that is due now (as workers would); returns how many ran."""
    with installation.runtime.db.engine.connect() as conn:
        ids = list(conn.scalars(select(QM.c.id).where(QM.c.retry_after.is_(None)).order_by(QM.c.id)))
    for queued_id in ids:
        process_queued_message(installation.runtime, queued_id)
    return len(ids)


def change_server(installation: Installation, **values: Any) -> None:
    """Update the server row and make this process see it at once."""
    from models.server import Server

    with installation.runtime.db.transaction() as session:
        session.execute(update(Server).where(Server.id == installation.server_id).values(**values))
    installation.runtime.servers.forget()
