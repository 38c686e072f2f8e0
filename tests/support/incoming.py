"""Helpers for tests of incoming mail: routes and endpoints, mail received for them, rows read back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.incoming.endpoints import create_address_endpoint, create_http_endpoint, create_smtp_endpoint
from core.incoming.recipients import BOUNCE, Recipient, classify
from core.incoming.routes import create_route
from core.incoming.submission import IncomingSubmission, RoutedRecipient, submit_incoming_many
from core.queue.enqueue import Accepted
from models.base import table
from models.endpoint import Endpoint
from models.message.message import Message
from models.queued_message import QueuedMessage
from models.server import Server
from tests.conftest import Installation

QM = table(QueuedMessage)
MESSAGES = table(Message)

INCOMING = (
    b"From: Sender <sender@example.net>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Help please\r\n"
    b"Message-ID: <question-1@example.net>\r\n"
    b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
    b"\r\n"
    b"My order has not arrived.\r\n"
)


def http_endpoint(installation: Installation, url: str, **options: Any) -> Endpoint:
    with installation.runtime.db.transaction() as session:
        server = session.get_one(Server, installation.server_id)
        endpoint = create_http_endpoint(session, server, "App", url, **options)
        session.expunge(endpoint)
        return endpoint


def smtp_endpoint(installation: Installation, hostname: str, port: int, ssl_mode: str = "None") -> Endpoint:
    with installation.runtime.db.transaction() as session:
        server = session.get_one(Server, installation.server_id)
        endpoint = create_smtp_endpoint(session, server, "Relay", hostname, port, ssl_mode)
        session.expunge(endpoint)
        return endpoint


def address_endpoint(installation: Installation, address: str) -> Endpoint:
    with installation.runtime.db.transaction() as session:
        server = session.get_one(Server, installation.server_id)
        endpoint = create_address_endpoint(session, server, address)
        session.expunge(endpoint)
        return endpoint


def route(
    installation: Installation,
    address: str,
    mode: str = "Endpoint",
    endpoints: list[Endpoint] | None = None,
    spam_mode: str = "Mark",
) -> Any:
    with installation.runtime.db.transaction() as session:
        server = session.get_one(Server, installation.server_id)
        # Reload the endpoints in this session (the route checks their server).
        attached = [session.merge(e) for e in endpoints or []]
        made = create_route(session, server, address, mode, attached, spam_mode)
        session.expunge(made)
    installation.runtime.servers.forget()
    return made


def receive(
    installation: Installation, rcpt_to: str, raw: bytes = INCOMING, mail_from: str = "sender@example.net"
) -> list[int]:
    """What the SMTP server does for unauthenticated mail to `rcpt_to`: decide (RCPT), store and
    queue (DATA). Returns the ids of the messages made."""
    runtime = installation.runtime
    decision = classify(runtime.db, runtime.config, rcpt_to, None)
    assert isinstance(decision, Recipient), f"{rcpt_to} refused: {decision}"
    recipient = RoutedRecipient(decision.rcpt_to, decision.route_id, bounce=decision.kind == BOUNCE)
    [result] = submit_incoming_many(runtime, [IncomingSubmission(decision.server_id, mail_from, [recipient], raw)])
    assert isinstance(result, Accepted), result
    return [mid for _, mid, _ in result.messages]


def queued_row(installation: Installation, message_id: int) -> Any:
    with installation.runtime.db.engine.connect() as conn:
        return conn.execute(select(QM).where(QM.c.message_id == message_id)).mappings().first()


def all_messages(installation: Installation) -> list[dict[str, Any]]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(MESSAGES).order_by(MESSAGES.c.id)).mappings()]
