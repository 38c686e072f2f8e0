"""Delivering to a remote MX over real sockets: host choice, TLS, reply classes, connection reuse."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from core.config import SMTPRelay
from core.mail.smtp_client import SMTPSender
from tests.support.certs import self_signed
from tests.support.dns_server import DNSServer, Zone
from tests.support.processes import free_port
from tests.support.smtp_sink import SMTPSink

RAW = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello\r\n.leading dot\r\n"


@pytest.fixture
def resolver(dns_server: DNSServer) -> dns.resolver.Resolver:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = dns_server.port
    r.lifetime = 3
    return r


def sender(resolver: dns.resolver.Resolver, port: int, domain: str = "example.net", **kwargs: object) -> SMTPSender:
    s = SMTPSender(
        domain=domain,
        resolver=resolver,
        helo_hostname="postal.test",
        destination_port=port,
        open_timeout=3,
        read_timeout=5,
        **kwargs,  # type: ignore[arg-type]
    )
    s.start()
    return s


def test_delivers_to_the_mx_and_reports_where(zone: Zone, smtp_sink: SMTPSink, resolver: dns.resolver.Resolver) -> None:
    zone.mail_domain("example.net")
    s = sender(resolver, smtp_sink.port)
    result = s.send("abc123@rp.postal.test", "b@example.net", RAW)
    s.finish()
    assert result.status == "Sent"
    assert result.details == f"Message for b@example.net accepted by 127.0.0.1:{smtp_sink.port} (mx.example.net)"
    assert result.output == "250 2.0.0 Ok: queued"
    assert len(result.log_id) == 8 and result.time is not None
    received = smtp_sink.messages[0]
    assert received.mail_from == "abc123@rp.postal.test" and received.rcpt_tos == ["b@example.net"]
    assert received.helo == "postal.test"
    # Dot-stuffing and CRLF survive the trip.
    assert received.data == RAW


def test_mx_hosts_are_tried_by_preference(zone: Zone, smtp_sink: SMTPSink, resolver: dns.resolver.Resolver) -> None:
    # The preferred host refuses connections; the second one answers.
    zone.set("example.net", "MX", "10 down.example.net.", "20 up.example.net.")
    zone.set("down.example.net", "A", "127.0.0.2")
    zone.set("up.example.net", "A", "127.0.0.1")
    s = sender(resolver, smtp_sink.port)
    result = s.send("x@rp.postal.test", "b@example.net", RAW)
    assert result.status == "Sent" and "(up.example.net)" in result.details


def test_domain_without_mx_is_its_own_mail_host(
    zone: Zone, smtp_sink: SMTPSink, resolver: dns.resolver.Resolver
) -> None:
    zone.set("plain.example", "A", "127.0.0.1")
    result = sender(resolver, smtp_sink.port, domain="plain.example").send("x@rp.postal.test", "b@plain.example", RAW)
    assert result.status == "Sent" and "(plain.example)" in result.details


def test_no_reachable_server_is_a_temporary_connection_failure(zone: Zone, resolver: dns.resolver.Resolver) -> None:
    zone.mail_domain("example.net")
    result = sender(resolver, free_port()).send("x@rp.postal.test", "b@example.net", RAW)
    assert result.status == "SoftFail" and result.retry is True and result.connect_error
    assert result.details == "No SMTP servers were available for example.net. Tried mx.example.net."
    assert "refused" in result.output.lower()


def test_unknown_domain_has_no_hosts(resolver: dns.resolver.Resolver) -> None:
    result = sender(resolver, 25, domain="nowhere.example").send("x@rp.postal.test", "b@nowhere.example", RAW)
    assert result.status == "SoftFail" and result.connect_error
    assert result.details == "No SMTP servers were available for nowhere.example. Tried nowhere.example."


def test_null_mx_is_a_permanent_failure(zone: Zone, resolver: dns.resolver.Resolver) -> None:
    zone.set("nomail.example", "MX", "0 .")
    result = sender(resolver, 25, domain="nomail.example").send("x@rp.postal.test", "b@nomail.example", RAW)
    assert result.status == "HardFail" and not result.retry
    assert "does not accept mail" in result.details


@pytest.mark.parametrize(
    ("stage", "reply", "status", "retry"),
    [
        ("rcpt", "550 5.1.1 <b@example.net>: user unknown", "HardFail", False),
        ("rcpt", "554 5.7.1 rejected by policy", "HardFail", False),
        ("rcpt", "452 4.2.2 mailbox full", "SoftFail", True),
        ("rcpt", "451 4.7.1 greylisted, try again in 60 seconds", "SoftFail", 70),
        ("rcpt", "503 5.5.1 bad sequence", "SoftFail", True),
        ("data", "552 5.3.4 message too big", "HardFail", False),
        ("data", "421 4.3.2 try again in 3 minutes", "SoftFail", 190),
    ],
)
def test_replies_are_classified(
    zone: Zone, smtp_sink: SMTPSink, resolver: dns.resolver.Resolver, stage: str, reply: str, status: str, retry: object
) -> None:
    zone.mail_domain("example.net")
    replies = smtp_sink.handler.rcpt_replies if stage == "rcpt" else smtp_sink.handler.data_replies
    replies["b@example.net"] = reply
    s = sender(resolver, smtp_sink.port)
    result = s.send("x@rp.postal.test", "b@example.net", RAW)
    assert (result.status, result.retry) == (status, retry)
    assert result.output == reply
    word = "Permanent" if status == "HardFail" else "Temporary"
    assert result.details == f"{word} SMTP delivery error when sending to 127.0.0.1:{smtp_sink.port} (mx.example.net)"
    # The session is reset and usable for the next message.
    assert s.send("x@rp.postal.test", "c@example.net", RAW).status == "Sent"


def test_one_connection_serves_a_batch(zone: Zone, smtp_sink: SMTPSink, resolver: dns.resolver.Resolver) -> None:
    zone.mail_domain("example.net")
    s = sender(resolver, smtp_sink.port)
    results = [s.send("x@rp.postal.test", f"u{i}@example.net", RAW) for i in range(5)]
    s.finish()
    assert [r.status for r in results] == ["Sent"] * 5
    assert smtp_sink.connections == 1 and len(smtp_sink.messages) == 5


@pytest.fixture
def tls_sink(tmp_path: Path) -> Iterator[SMTPSink]:
    cert, key = self_signed(tmp_path, "mx.example.net")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = SMTPSink(tls_context=context).start()
    yield sink
    sink.stop()


def test_starttls_is_used_when_offered_without_verifying(
    zone: Zone, tls_sink: SMTPSink, resolver: dns.resolver.Resolver
) -> None:
    zone.mail_domain("example.net")
    result = sender(resolver, tls_sink.port).send("x@rp.postal.test", "b@example.net", RAW)
    assert result.status == "Sent" and result.secure is True
    assert tls_sink.messages[0].tls is True


def test_relays_replace_mx_lookup(smtp_sink: SMTPSink, resolver: dns.resolver.Resolver) -> None:
    s = sender(resolver, 25, domain="anything.example", relays=[SMTPRelay("127.0.0.1", smtp_sink.port, "None")])
    result = s.send("x@rp.postal.test", "b@anything.example", RAW)
    assert result.status == "Sent" and result.secure is False


@pytest.fixture
def broken_tls_sink() -> Iterator[SMTPSink]:
    """Offers STARTTLS but cannot complete a handshake (no certificate), like a misconfigured MX."""
    sink = SMTPSink(tls_context=ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)).start()
    yield sink
    sink.stop()


def test_a_failed_starttls_is_retried_in_plaintext(
    zone: Zone, broken_tls_sink: SMTPSink, resolver: dns.resolver.Resolver
) -> None:
    zone.mail_domain("example.net")
    result = sender(resolver, broken_tls_sink.port).send("x@rp.postal.test", "b@example.net", RAW)
    assert result.status == "Sent" and result.secure is False
    assert broken_tls_sink.messages[0].tls is False


def test_a_connection_dropped_between_messages_is_reopened_once(
    zone: Zone, smtp_sink: SMTPSink, resolver: dns.resolver.Resolver
) -> None:
    zone.mail_domain("example.net")
    s = sender(resolver, smtp_sink.port)
    assert s.send("x@rp.postal.test", "a@example.net", RAW).status == "Sent"
    # The remote closes the idle connection; the next message reconnects and goes through.
    assert s._client is not None
    s._client.sock.shutdown(2)  # type: ignore[union-attr]
    assert s.send("x@rp.postal.test", "b@example.net", RAW).status == "Sent"
    assert smtp_sink.connections == 2 and len(smtp_sink.messages) == 2
