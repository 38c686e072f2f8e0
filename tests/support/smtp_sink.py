"""An aiosmtpd sink on 127.0.0.1 that plays the remote MX in tests: it records what it receives
and can be told to answer a recipient with a chosen reply."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: str
    helo: str | None
    tls: bool
    at: float = field(default_factory=time.monotonic)


class SinkHandler:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: dict[str, str] = {}
        # Seconds to wait before answering DATA: a slow MX keeps deliveries in flight.
        self.data_delay = 0.0
        self._cond = threading.Condition()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        for rcpt in envelope.rcpt_tos:
            if rcpt.lower() in self.data_replies:
                return self.data_replies[rcpt.lower()]
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        item = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.original_content or b"",
            peer=peer,
            helo=session.host_name,
            tls=server._tls_protocol is not None,
        )
        with self._cond:
            self.messages.append(item)
            self._cond.notify_all()
        return "250 2.0.0 Ok: queued"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"sink received {len(self.messages)} of {count} messages in {timeout}s")
                self._cond.wait(remaining)
            return list(self.messages)


class SMTPSink:
    """`tls_context` makes the sink offer STARTTLS, as most real MX hosts do; with `implicit_tls`
    it speaks TLS from the first byte instead (SMTPS)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.handler = SinkHandler()
        self.host = host
        self._requested_port = port
        self.port = 0
        self._tls_context = tls_context
        self._implicit_tls = implicit_tls
        self._controller: Controller | None = None
        self.connections = 0

    def start(self) -> SMTPSink:
        import socket

        port = self._requested_port
        if not port:
            with socket.socket() as s:
                s.bind((self.host, 0))
                port = s.getsockname()[1]
        sink = self

        class CountingController(Controller):
            def factory(self) -> SMTP:
                sink.connections += 1
                starttls = None if sink._implicit_tls else sink._tls_context
                return SMTP(self.handler, hostname="sink.test", tls_context=starttls)

        implicit = self._tls_context if self._implicit_tls else None
        self._controller = CountingController(
            self.handler, hostname=self.host, port=port, ready_timeout=10, ssl_context=implicit
        )
        self._controller.start()
        # The controller connects once itself to check the server is up.
        self.connections = 0
        self.port = port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        return self.handler.wait_for(count, timeout)
