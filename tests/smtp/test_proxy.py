"""PROXY protocol v1 in front of the SMTP server: the session belongs to the client the load
balancer names (reference §5)."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.messages.raw_store import load_raw_message
from core.messages.view import ParsedMessage
from core.tenancy.credentials import create_credential
from models.base import table
from models.enums import CredentialType
from models.message.message import Message
from models.server import Server
from smtp.proxy import ProxiedConnection, parse_proxy_line
from tests.conftest import Backend, Installation
from tests.smtp.wire import Wire
from tests.support.certs import self_signed
from tests.support.smtp_server import running_smtp_server

MESSAGE = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    """The PROXY line is read before any database work: SQLite only."""
    return sqlite_backend


@pytest.fixture
def smtp_port(installation: Installation) -> Iterator[int]:
    with running_smtp_server(installation.runtime, proxy_protocol=True, max_connections_per_ip=1) as port:
        yield port


def proxied(port: int, client: str = "203.0.113.9", family: str = "TCP4", proxy: str = "10.0.0.2") -> Wire:
    wire = Wire(port)
    wire.send(f"PROXY {family} {client} {proxy} 40000 25")
    return wire


def received_headers(installation: Installation) -> list[str]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        rows = conn.execute(select(table(Message))).mappings().all()
        raws = [load_raw_message(conn, r["raw_table"], r["raw_headers_id"], r["raw_body_id"]) for r in rows]
    return [ParsedMessage(raw or b"").headers["received"][0] for raw in raws]


def send(wire: Wire, key: str | None = None) -> str:
    wire.command("EHLO client.test")
    if key is not None:
        assert wire.one("AUTH PLAIN " + base64.b64encode(f"\0u\0{key}".encode()).decode()).startswith("235 ")
    wire.command("MAIL FROM:<orders@example.com>")
    reply = wire.one("RCPT TO:<customer@example.net>")
    if reply.startswith("250 "):
        wire.command("DATA")
        wire.send(MESSAGE + b".\r\n")
        return wire.reply()[0]
    return reply


def test_the_greeting_waits_for_the_proxy_line(installation: Installation, smtp_port: int) -> None:
    with proxied(smtp_port) as wire:
        assert wire.reply()[0].startswith("220 postal.test ESMTP Postal/")
        assert send(wire, installation.smtp_key) == "250 2.0.0 OK"
    (received,) = received_headers(installation)
    assert received.startswith("from client.test (203.0.113.9 [203.0.113.9]) by postal.test")


def test_the_named_client_is_the_one_smtp_ip_credentials_see(installation: Installation, smtp_port: int) -> None:
    with installation.runtime.db.transaction() as session:
        server = session.get(Server, installation.server_id)
        assert server is not None
        create_credential(session, server, CredentialType.SMTP_IP, key="203.0.113.0/24")
    with proxied(smtp_port, client="198.51.100.1") as outsider:
        outsider.reply()
        assert send(outsider) == "530 5.7.0 Authentication required"
    with proxied(smtp_port, client="203.0.113.9") as trusted:
        trusted.reply()
        assert send(trusted) == "250 2.0.0 OK"


def test_ipv6_clients(smtp_port: int) -> None:
    with proxied(smtp_port, client="2001:db8::5", family="TCP6", proxy="2001:db8::1") as wire:
        assert wire.reply()[0].startswith("220 ")


def test_limits_apply_to_the_named_client(smtp_port: int) -> None:
    """All connections come from the balancer's address; the cap (1 here) counts the clients."""
    with proxied(smtp_port, client="203.0.113.9") as first, proxied(smtp_port, client="203.0.113.10") as second:
        assert first.reply()[0].startswith("220 ") and second.reply()[0].startswith("220 ")
        with proxied(smtp_port, client="203.0.113.9") as third:
            assert third.reply() == ["421 4.7.0 Too many connections from your address"]


@pytest.mark.parametrize(
    "first_line",
    [
        b"EHLO client.test\r\n",
        b"PROXY UNKNOWN\r\n",
        b"PROXY TCP4 203.0.113.9 10.0.0.2 40000\r\n",
        b"PROXY TCP4 not-an-address 10.0.0.2 40000 25\r\n",
        b"PROXY TCP6 203.0.113.9 10.0.0.2 40000 25\r\n",
        b"PROXY TCP4 203.0.113.9 10.0.0.2 40000 25" + b" " * 100 + b"\r\n",
        b"\r\n",
    ],
)
def test_anything_but_a_proxy_line_is_refused(smtp_port: int, first_line: bytes) -> None:
    with Wire(smtp_port) as wire:
        wire.send(first_line)
        assert wire.reply() == ["502 5.5.1 Proxy Error"]
        assert wire.closed_by_server()


def test_the_named_client_survives_starttls(installation: Installation, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "postal.test")
    settings = {"tls_enabled": True, "tls_certificate_path": str(cert), "tls_private_key_path": str(key)}
    with running_smtp_server(installation.runtime, proxy_protocol=True, **settings) as port, proxied(port) as wire:
        wire.reply()
        wire.command("EHLO client.test")
        assert wire.one("STARTTLS") == "220 2.0.0 Ready to start TLS"
        wire.starttls(ssl.create_default_context(cafile=str(cert)))
        assert send(wire, installation.smtp_key) == "250 2.0.0 OK"
    (received,) = received_headers(installation)
    assert "[203.0.113.9]" in received


# -- the parser -------------------------------------------------------------------------------


def test_parse_proxy_line() -> None:
    assert parse_proxy_line(b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 25\r\n") == ProxiedConnection(
        "192.0.2.1", 1234, "192.0.2.2", 25
    )
    assert parse_proxy_line(b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1234 25\r\n") == ProxiedConnection(
        "::ffff:c000:201", 1234, "2001:db8::2", 25
    )


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 25\n",  # bare LF
        b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 65536\r\n",
        b"PROXY TCP4 192.0.2.1 192.0.2.2 +1234 25\r\n",
        b"PROXY TCP4 192.0.2.1  192.0.2.2 1234 25\r\n",
        b"proxy TCP4 192.0.2.1 192.0.2.2 1234 25\r\n",
        b"PROXY TCP4 192.0.2.1 192.0.2.2 1234 25 extra\r\n",
        b"PROXY TCP4 \xff.0.2.1 192.0.2.2 1234 25\r\n",
        b"",
    ],
)
def test_parse_proxy_line_refuses(line: bytes) -> None:
    assert parse_proxy_line(line) is None
