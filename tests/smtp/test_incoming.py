"""Incoming mail over a real SMTP socket: the RCPT decisions of reference §5 in order (return path,
route address, authenticated, route match, SMTP-IP, else 530), what is stored and queued for each,
and the end-of-DATA checks on incoming mail (loop detection, the Received header)."""

from __future__ import annotations

import smtplib
from typing import Any

import dramatiq
from sqlalchemy import select

from core.broker import ACTOR_PROCESS_BOUNCE, ACTOR_PROCESS_INCOMING_MESSAGE, QUEUE_BOUNCES, QUEUE_INCOMING
from core.incoming.recipients import smtp_ip_credential
from core.tenancy.credentials import create_credential
from core.tenancy.organizations import create_organization
from core.tenancy.servers import create_server
from models.base import table
from models.enums import CredentialType
from models.message.message import Message
from models.queued_message import QueuedMessage
from models.server import Server
from tests.conftest import Installation
from tests.support.incoming import INCOMING, route
from tests.support.outgoing import change_server, stored_raw

QM = table(QueuedMessage)


def connect(port: int) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=20)
    client.ehlo("mx.sender.example")
    return client


def rcpt(port: int, address: str, login: tuple[str, str] | None = None) -> tuple[int, bytes]:
    with connect(port) as client:
        if login:
            client.login(*login)
        client.mail("sender@example.net")
        return client.rcpt(address)


def deliver(port: int, address: str, raw: bytes = INCOMING, mail_from: str = "sender@example.net") -> None:
    with connect(port) as client:
        client.sendmail(mail_from, [address], raw)


def stored(installation: Installation, server_id: int | None = None) -> list[dict[str, Any]]:
    mdb = installation.runtime.message_dbs.get(server_id or installation.server_id)
    with mdb.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table(Message)).order_by(table(Message).c.id)).mappings()]


def queue_rows(installation: Installation) -> list[dict[str, Any]]:
    with installation.runtime.db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(QM).order_by(QM.c.id)).mappings()]


def published(installation: Installation) -> list[tuple[str, str]]:
    """The jobs waiting in the in-memory broker: (queue, actor) each."""
    broker: Any = installation.runtime.require_publisher().broker
    jobs = [dramatiq.Message.decode(data) for queue in broker.queues.values() for data in list(queue.queue)]
    return [(job.queue_name, job.actor_name) for job in jobs]


# -- route matching -------------------------------------------------------------------------------


def test_mail_for_a_route_is_accepted_without_authentication(installation: Installation, smtp_port: int) -> None:
    made = route(installation, "support@example.com", mode="Accept")
    assert rcpt(smtp_port, "support@example.com") == (250, b"2.1.5 OK")
    deliver(smtp_port, "Support+Urgent@example.com")
    [message] = stored(installation)
    assert message["scope"] == "incoming" and message["route_id"] == made.id
    assert message["rcpt_to"] == "Support+Urgent@example.com" and message["mail_from"] == "sender@example.net"
    [row] = queue_rows(installation)
    assert row["queue"] == QUEUE_INCOMING and row["route_id"] == made.id
    assert published(installation) == [(QUEUE_INCOMING, ACTOR_PROCESS_INCOMING_MESSAGE)]


def test_a_wildcard_route_takes_any_name(installation: Installation, smtp_port: int) -> None:
    made = route(installation, "*@example.com", mode="Accept")
    deliver(smtp_port, "anyone@example.com")
    assert [m["route_id"] for m in stored(installation)] == [made.id]


def test_an_exact_route_wins_over_the_wildcard(installation: Installation, smtp_port: int) -> None:
    route(installation, "*@example.com", mode="Accept")
    exact = route(installation, "sales@example.com", mode="Hold")
    deliver(smtp_port, "sales@example.com")
    assert [m["route_id"] for m in stored(installation)] == [exact.id]


def test_never_an_open_relay(installation: Installation, smtp_port: int) -> None:
    route(installation, "support@example.com", mode="Accept")
    # Not routed here: elsewhere, an unrouted name of a routed domain, an unverified domain.
    for address in ("customer@example.net", "nobody@example.com", "x@unknown.example"):
        assert rcpt(smtp_port, address) == (530, b"5.7.0 Authentication required"), address
    assert stored(installation) == []


def test_a_rejecting_route_refuses_at_rcpt(installation: Installation, smtp_port: int) -> None:
    route(installation, "support@example.com", mode="Reject")
    assert rcpt(smtp_port, "support@example.com") == (550, b"5.7.1 Route does not accept incoming messages")


def test_a_suspended_server_refuses_its_routes(installation: Installation, smtp_port: int) -> None:
    from datetime import UTC, datetime

    route(installation, "support@example.com", mode="Accept")
    change_server(installation, suspended_at=datetime.now(UTC).replace(tzinfo=None))
    assert rcpt(smtp_port, "support@example.com") == (535, b"5.7.1 Mail server has been suspended")
    token = f"{installation.server_token}@rp.postal.test"
    assert rcpt(smtp_port, token) == (535, b"5.7.1 Mail server has been suspended")


# -- route addresses and return paths -------------------------------------------------------------


def test_the_route_address_reaches_the_route(installation: Installation, smtp_port: int) -> None:
    made = route(installation, "support@example.com", mode="Accept")
    deliver(smtp_port, f"{made.token}+ticket-7@routes.postal.test")
    [message] = stored(installation)
    assert message["route_id"] == made.id and message["rcpt_to"] == "support+ticket-7@example.com"
    assert rcpt(smtp_port, "nosuchtoken@routes.postal.test") == (550, b"5.1.1 Invalid route token")


def test_return_path_mail_is_a_bounce(installation: Installation, smtp_port: int) -> None:
    deliver(smtp_port, f"{installation.server_token}+AbC123@rp.postal.test", mail_from="")
    deliver(smtp_port, f"{installation.server_token}@psrp.example.com", mail_from="")
    messages = stored(installation)
    assert [(m["scope"], bool(m["bounce"]), m["route_id"]) for m in messages] == [("incoming", True, None)] * 2
    assert messages[0]["rcpt_to"] == f"{installation.server_token}+AbC123@rp.postal.test"
    assert [r["queue"] for r in queue_rows(installation)] == [QUEUE_BOUNCES] * 2
    assert set(published(installation)) == {(QUEUE_BOUNCES, ACTOR_PROCESS_BOUNCE)}
    assert rcpt(smtp_port, "wrongtoken@rp.postal.test") == (550, b"5.1.1 Invalid server token")


# -- authenticated clients and SMTP-IP ------------------------------------------------------------


def test_authenticated_mail_is_outgoing_even_to_a_routed_address(installation: Installation, smtp_port: int) -> None:
    route(installation, "support@example.com", mode="Accept")
    raw = b"From: orders@example.com\r\nTo: support@example.com\r\nSubject: x\r\n\r\nHi\r\n"
    with connect(smtp_port) as client:
        client.login(installation.server_ref, installation.smtp_key)
        client.sendmail("orders@example.com", ["support@example.com"], raw)
    [message] = stored(installation)
    assert message["scope"] == "outgoing" and message["route_id"] is None


def test_smtp_ip_credentials_authenticate_by_address(installation: Installation, smtp_port: int) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        server = session.get_one(Server, installation.server_id)
        create_credential(session, server, CredentialType.SMTP_IP, key="127.0.0.0/8")
        other_org = create_organization(session, "Other", "other")
        other = create_server(session, runtime.config, runtime.message_dbs, other_org, "Relay", "relay")
        from core.tenancy.domains import add_domain

        add_domain(session, runtime.config, other, "example.com", verified=True)
        create_credential(session, other, CredentialType.SMTP_IP, key="127.0.0.1")
        other_id = other.id
    raw = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: x\r\n\r\nHi\r\n"
    deliver(smtp_port, "customer@example.net", raw, mail_from="orders@example.com")
    # The most specific network wins: 127.0.0.1/32 of the other server over 127.0.0.0/8.
    assert stored(installation) == []
    [message] = stored(installation, other_id)
    assert message["scope"] == "outgoing" and message["rcpt_to"] == "customer@example.net"
    # IPv4 networks match IPv4-mapped IPv6 clients too.
    found = smtp_ip_credential(runtime.db, "::ffff:127.0.0.1")
    assert found is not None and found.server_id == other_id
    assert smtp_ip_credential(runtime.db, "::1") is None


# -- end of DATA ----------------------------------------------------------------------------------


def test_a_message_that_went_round_in_circles_is_refused(installation: Installation, smtp_port: int) -> None:
    route(installation, "support@example.com", mode="Accept")
    hop = b"Received: from a.example by postal.test with SMTP; Sun, 22 Nov 2026 10:00:00 +0000\r\n"
    with connect(smtp_port) as client:
        client.mail("sender@example.net")
        client.rcpt("support@example.com")
        # Four earlier hops through us plus the one we add make five: a loop.
        assert client.data(hop * 4 + INCOMING) == (550, b"5.4.6 Loop detected")
    deliver(smtp_port, "support@example.com", hop * 3 + INCOMING)
    assert len(stored(installation)) == 1


def test_received_header_of_incoming_mail(installation: Installation, smtp_port: int) -> None:
    route(installation, "support@example.com", mode="Accept")
    deliver(smtp_port, "support@example.com")
    raw = stored_raw(installation, 1)
    assert raw.startswith(b"Received: from mx.sender.example (")
    assert b"[127.0.0.1]) by postal.test with SMTP; " in raw.split(b"\r\n")[0]
    assert raw.endswith(INCOMING)


def test_privacy_mode_leaves_the_client_out_of_received(installation: Installation, smtp_port: int) -> None:
    change_server(installation, privacy_mode=True)
    raw = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: x\r\n\r\nHi\r\n"
    with connect(smtp_port) as client:
        client.login(installation.server_ref, installation.smtp_key)
        client.sendmail("orders@example.com", ["customer@example.net"], raw)
    [received] = [h for h in stored_raw(installation, 1).split(b"\r\n") if h.startswith(b"Received:")]
    assert received.startswith(b"Received: by postal.test with SMTP; ")
