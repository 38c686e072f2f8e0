"""SMTP sessions shared per destination: reuse, a cap on parallel sessions, remembered failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

import dns.resolver
import pytest

from core.mail.sender_pool import SenderPool
from core.mail.smtp_client import SMTPSender
from tests.support.dns_server import DNSServer, Zone
from tests.support.processes import free_port
from tests.support.smtp_sink import SMTPSink

RAW = b"From: a@example.com\r\nSubject: x\r\n\r\nHello\r\n"


def make_pool(dns_server: DNSServer, port: int, **kwargs: object) -> SenderPool:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], dns_server.port

    def factory(domain: Hashable) -> SMTPSender:
        return SMTPSender(
            domain=str(domain), resolver=resolver, helo_hostname="postal.test", destination_port=port, open_timeout=3
        )

    return SenderPool(factory, **kwargs)  # type: ignore[arg-type]


def test_sessions_are_reused_and_idle_ones_closed(dns_server: DNSServer, zone: Zone, smtp_sink: SMTPSink) -> None:
    zone.mail_domain("example.net")
    now = [0.0]
    pool = make_pool(dns_server, smtp_sink.port, idle_timeout=30.0, clock=lambda: now[0])
    for i in range(3):
        with pool.session("example.net") as sender:
            assert sender.send("x@rp.test", f"u{i}@example.net", RAW).status == "Sent"
    assert smtp_sink.connections == 1
    now[0] = 31.0  # idle for longer than the timeout: a new connection
    with pool.session("example.net") as sender:
        assert sender.send("x@rp.test", "u4@example.net", RAW).status == "Sent"
    assert smtp_sink.connections == 2
    pool.close()


def test_parallel_sessions_are_capped_per_destination(dns_server: DNSServer, zone: Zone, smtp_sink: SMTPSink) -> None:
    zone.mail_domain("example.net")
    pool = make_pool(dns_server, smtp_sink.port, max_per_destination=2)
    inside = 0
    most = 0
    lock = threading.Lock()

    def work(i: int) -> None:
        nonlocal inside, most
        with pool.session("example.net") as sender:
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            sender.send("x@rp.test", f"u{i}@example.net", RAW)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 2 and len(smtp_sink.messages) == 6 and smtp_sink.connections == 2
    pool.close()


@pytest.mark.parametrize("ttl_passes", [False, True])
def test_a_failed_destination_is_remembered_for_a_while(dns_server: DNSServer, zone: Zone, ttl_passes: bool) -> None:
    zone.mail_domain("down.example")
    now = [0.0]
    attempts = []
    pool = make_pool(dns_server, free_port(), failure_ttl=60.0, clock=lambda: now[0])
    original = pool.factory

    def counting(key: Hashable) -> SMTPSender:
        attempts.append(key)
        return original(key)

    pool.factory = counting
    with pool.session("down.example") as sender:
        assert sender.send("x@rp.test", "a@down.example", RAW).connect_error
    now[0] = 61.0 if ttl_passes else 30.0
    with pool.session("down.example") as sender:
        assert sender.send("x@rp.test", "b@down.example", RAW).connect_error
    assert len(attempts) == (2 if ttl_passes else 1)
