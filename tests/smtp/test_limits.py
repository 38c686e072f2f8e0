"""The limits the SMTP server adds to Postal: connections per address, failed-AUTH throttling,
idle and session timeouts, TCP keepalive."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope

from core.config import Config, replace
from smtp.connection import ServerState
from smtp.keepalive import enable_keepalive
from smtp.limits import AuthThrottle, ConnectionLimiter
from smtp.protocol import PostalSMTP
from tests.conftest import Backend, Installation
from tests.smtp.wire import Wire
from tests.support.smtp_server import running_smtp_server

MESSAGE = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    """Limits live in the server process, not the database: SQLite only."""
    return sqlite_backend


def plain(key: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0user\0{key}".encode()).decode()


def eventually(check: Callable[[], bool], within: float = 10.0) -> bool:
    """Polls `check` until it holds; for effects the server applies a moment after the client acts."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


# -- connections per address ------------------------------------------------------------------


def test_one_connection_too_many_is_refused(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, max_connections_per_ip=2) as port:
        first, second = Wire(port), Wire(port)
        assert first.reply()[0].startswith("220 ") and second.reply()[0].startswith("220 ")
        with Wire(port) as third:
            assert third.reply() == ["421 4.7.0 Too many connections from your address"]
            assert third.closed_by_server()
        # The two admitted sessions are unaffected; once one ends, there is room again.
        assert first.one("NOOP") == "250 2.0.0 OK"
        second.close()

        def admitted() -> bool:
            with Wire(port) as again:
                return again.reply()[0].startswith("220 ")

        assert eventually(admitted)
        first.close()


def test_no_connection_cap_with_zero(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, max_connections_per_ip=0) as port:
        wires = [Wire(port) for _ in range(25)]
        try:
            assert all(w.reply()[0].startswith("220 ") for w in wires)
        finally:
            for w in wires:
                w.close()


def test_connection_limiter_counts_per_address() -> None:
    limiter = ConnectionLimiter(2)
    assert limiter.acquire("192.0.2.1") and limiter.acquire("192.0.2.1")
    assert not limiter.acquire("192.0.2.1")
    assert limiter.acquire("192.0.2.2")
    limiter.release("192.0.2.1")
    assert limiter.acquire("192.0.2.1")
    limiter.release("192.0.2.1")
    limiter.release("192.0.2.1")
    assert limiter.open_connections("192.0.2.1") == 0


# -- failed AUTH ------------------------------------------------------------------------------


def test_failed_auth_is_throttled_per_address(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, auth_failure_limit=2) as port:
        with Wire(port) as wire:
            wire.reply()
            assert wire.one(plain("wrong-1")) == "535 5.7.8 Invalid credential"
            assert wire.one(plain("wrong-2")) == "535 5.7.8 Invalid credential"
            # Even the right key is not looked at now.
            assert wire.one(plain(installation.smtp_key)) == (
                "454 4.7.0 Too many failed authentication attempts, try again later"
            )
            assert wire.one(plain(installation.smtp_key)) == "421 4.7.0 Too many failed authentication attempts"
            assert wire.closed_by_server()
        # The count belongs to the address, not the connection.
        with Wire(port) as other:
            other.reply()
            assert other.command("EHLO client.test")[0] == "250-My capabilities are"
            assert other.one(plain(installation.smtp_key)).startswith("454 4.7.0 ")
            # Mail that needs no AUTH still flows: only AUTH is refused.
            assert other.one("NOOP") == "250 2.0.0 OK"


def test_auth_throttle_window_slides() -> None:
    now = [1000.0]
    throttle = AuthThrottle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert not throttle.blocked("198.51.100.7")
        throttle.record_failure("198.51.100.7")
        now[0] += 10
    assert throttle.blocked("198.51.100.7")
    assert not throttle.blocked("198.51.100.8")
    now[0] = 1000.0 + 60.5  # the first failure has left the window
    assert not throttle.blocked("198.51.100.7")
    throttle.record_failure("198.51.100.7")
    assert throttle.blocked("198.51.100.7")


def test_auth_throttle_off_with_zero() -> None:
    throttle = AuthThrottle(limit=0, window=60)
    for _ in range(100):
        throttle.record_failure("198.51.100.7")
    assert not throttle.blocked("198.51.100.7")


def test_auth_throttle_forgets_old_addresses() -> None:
    now = [0.0]
    throttle = AuthThrottle(limit=5, window=10, clock=lambda: now[0])
    for n in range(AuthThrottle.SWEEP_EVERY - 1):
        throttle.record_failure(f"10.0.{n // 256}.{n % 256}")
    now[0] = 100.0
    throttle.record_failure("192.0.2.1")  # the sweep runs here
    assert list(throttle._failures) == ["192.0.2.1"]


# -- timeouts ---------------------------------------------------------------------------------


def test_an_idle_client_is_disconnected(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, idle_timeout=1) as port, Wire(port) as wire:
        wire.reply()
        assert wire.command("EHLO client.test")[0] == "250-My capabilities are"
        # Then silence.
        assert wire.reply() == ["421 4.4.2 postal.test Error: timeout exceeded"]
        assert wire.closed_by_server()


def test_a_client_stalling_mid_data_is_disconnected(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, idle_timeout=1) as port, Wire(port) as wire:
        wire.reply()
        wire.command("EHLO client.test")
        assert wire.one(plain(installation.smtp_key)).startswith("235 ")
        wire.command("MAIL FROM:<orders@example.com>")
        wire.command("RCPT TO:<customer@example.net>")
        assert wire.one("DATA") == "354 Go ahead"
        wire.send(MESSAGE)
        assert wire.reply() == ["421 4.4.2 postal.test Error: timeout exceeded"]


def test_a_session_past_its_time_limit_is_closed(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, session_timeout=1) as port, Wire(port) as wire:
        wire.reply()
        assert wire.one("NOOP") == "250 2.0.0 OK"
        # Waiting between commands when the time is up: told at once.
        assert wire.reply() == ["421 4.4.2 postal.test Error: session time limit exceeded"]
        assert wire.closed_by_server()


def test_a_message_in_progress_is_finished_before_the_session_limit(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, session_timeout=1) as port, Wire(port) as wire:
        wire.reply()
        wire.command("EHLO client.test")
        assert wire.one(plain(installation.smtp_key)).startswith("235 ")
        wire.command("MAIL FROM:<orders@example.com>")
        wire.command("RCPT TO:<customer@example.net>")
        assert wire.one("DATA") == "354 Go ahead"
        wire.send(MESSAGE)
        time.sleep(1.5)  # the session limit passes while the message is being sent
        wire.send(b".\r\n")
        assert wire.reply() == ["250 2.0.0 OK"]
        assert wire.reply() == ["421 4.4.2 postal.test Error: session time limit exceeded"]
        assert wire.closed_by_server()


def test_zero_means_no_timeouts(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, idle_timeout=0, session_timeout=0) as port, Wire(port) as wire:
        assert wire.reply()[0].startswith("220 ")
        time.sleep(0.5)
        assert wire.one("NOOP") == "250 2.0.0 OK"


# -- keepalive --------------------------------------------------------------------------------


def test_keepalive_uses_postals_timings() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            enable_keepalive(accepted)
            assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
            if hasattr(socket, "TCP_KEEPIDLE"):
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 50
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 5


def test_the_server_turns_keepalive_on(installation: Installation) -> None:
    tcp = Path("/proc/net/tcp")
    if not tcp.exists():
        pytest.skip("needs Linux's /proc/net/tcp to see the server's side of the connection")
    with running_smtp_server(installation.runtime) as port, Wire(port) as wire:
        wire.reply()
        client_port = wire.sock.getsockname()[1]

        def keepalive_timer_running() -> bool:
            # Columns: sl local remote st queues tr:when …; timer 2 is the keepalive timer.
            for line in tcp.read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, timer = fields[1], fields[2], fields[5]
                if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == client_port:
                    return timer.split(":")[0] == "02"
            return False

        assert eventually(keepalive_timer_running)


def test_the_idle_clock_stops_while_the_handler_works(config: Config) -> None:
    """A slow database must not cost the client its session: only the client's silence counts."""

    class SlowHandler:
        async def handle_RCPT(self, _s: object, _ses: object, envelope: Envelope, address: str, _o: object) -> str:
            await asyncio.sleep(2.5)  # longer than the idle timeout
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

    state = ServerState.from_config(replace(config, smtp_server={"idle_timeout": 1}))

    async def scenario() -> list[bytes]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: PostalSMTP(SlowHandler(), state, loop=loop), "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        try:
            await reader.readline()
            writer.write(b"HELO client.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n")
            # Three replies, then (silence from the client) the timeout.
            return [await reader.readline() for _ in range(4)]
        finally:
            writer.close()
            server.close()

    assert asyncio.run(scenario()) == [
        b"250 postal.test\r\n",
        b"250 2.1.0 OK\r\n",
        b"250 2.1.5 OK\r\n",
        b"421 4.4.2 postal.test Error: timeout exceeded\r\n",
    ]
