"""One SMTP client connection on aiosmtpd: what happens before the greeting (PROXY v1, implicit
TLS, the cap on connections per address), the command loop, timeouts, keepalive and closing.
The commands themselves are `smtp.protocol.PostalSMTP`'s.

aiosmtpd's `SMTP` keeps doing what it does well (the asyncio stream plumbing, address parsing,
AUTH challenges, the STARTTLS switch-over); its command loop is replaced because Postal answers
unknown commands, empty lines and long lines differently and because the timeouts need it.

Timeouts. The idle clock runs while the server waits for the client (a command, data, an AUTH
answer) and restarts with every byte received or reply sent; it does not run while the handler
works (a slow database must not cost the client its session). The session clock runs from the
connection; when it ends between commands the client gets a 421 at once, but a message being
received in DATA is read, stored and answered first, and the 421 follows that reply.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import sslproto
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, sanitize

from core import metrics
from core.config import Config, SMTPServerSection
from core.logs import log_context
from core.tokens import random_string
from smtp import replies
from smtp.handler import Handler, client_ip
from smtp.keepalive import enable_keepalive
from smtp.limits import AuthThrottle, ConnectionLimiter
from smtp.proxy import parse_proxy_line
from smtp.tls import CertificateStore

log = logging.getLogger(__name__)

# How long a load balancer may take to send its PROXY line; it sends it at once.
PROXY_TIMEOUT = 10.0
# A client that does not read our last reply cannot hold its socket open longer than this.
CLOSE_GRACE = 10.0
# The longest a TLS handshake may take (capped by the idle timeout).
HANDSHAKE_TIMEOUT = 60.0


@dataclass
class ServerState:
    """What every connection of one SMTP server process shares: the settings, the TLS
    certificate and the per-address counters."""

    hostname: str
    settings: SMTPServerSection
    max_message_size: int
    tls: CertificateStore | None
    connections: ConnectionLimiter
    auth_failures: AuthThrottle

    @classmethod
    def from_config(cls, config: Config) -> ServerState:
        settings = config.smtp_server
        return cls(
            hostname=config.postal.smtp_hostname,
            settings=settings,
            max_message_size=config.max_message_size_bytes,
            tls=CertificateStore.from_config(config) if settings.tls_enabled else None,
            connections=ConnectionLimiter(settings.max_connections_per_ip),
            auth_failures=AuthThrottle(settings.auth_failure_limit, settings.auth_failure_window),
        )


Command = Callable[[str | None], Awaitable[None]]


class SMTPConnection(SMTP):
    """aiosmtpd's SMTP with our connection handling; one instance per connection. Subclasses fill
    `commands` (upper-case verb → coroutine taking the argument). `implicit_tls`: the listener is
    SMTPS, TLS starts with the first byte (RFC 8314)."""

    def __init__(self, handler: Handler, shared: ServerState, *, implicit_tls: bool = False, **kwargs: Any) -> None:
        self.shared = shared
        self.implicit_tls = implicit_tls
        settings = shared.settings
        self._idle_timeout = settings.idle_timeout
        self._idle_since = 0.0
        self._busy = 0  # > 0 while the handler works or TLS is being negotiated
        self._in_data = False  # from 354 until the message is answered
        self._closing = False
        self._session_expired = False
        self._session_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None
        self._slot: str | None = None  # the address whose connection count this one holds
        self._peer: tuple[str, int] | None = None  # the client named by a PROXY line
        # Postal's greeting: `220 <hostname> ESMTP Postal/<session id>`.
        self.session_id = random_string(6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        super().__init__(
            handler,
            hostname=shared.hostname,
            ident=f"ESMTP Postal/{self.session_id}",
            data_size_limit=shared.max_message_size,
            enable_SMTPUTF8=True,
            auth_require_tls=False,
            timeout=settings.idle_timeout,
            **kwargs,
        )
        self.commands: dict[str, Command] = {}

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        # aiosmtpd calls this again once STARTTLS is done, and then starts a fresh session.
        super().connection_made(transport)
        assert self.session is not None
        if first:
            metrics.SMTP_CONNECTIONS.inc()
            enable_keepalive(transport.get_extra_info("socket"))
            if self.shared.settings.session_timeout > 0:
                self._session_timer = self.loop.call_later(self.shared.settings.session_timeout, self._session_ended)
        if self._peer is not None:
            self.session.peer = self._peer  # type: ignore[assignment]  # aiosmtpd's annotation; it holds the address tuple

    def connection_lost(self, error: Exception | None) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
            self._session_timer = None
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        if self._slot is not None:
            self.shared.connections.release(self._slot)
            self._slot = None
        if self.transport is not None:
            super().connection_lost(error)

    def eof_received(self) -> bool | None:
        """The client closed its sending side. aiosmtpd would cancel the session at once, losing
        what the client sent just before (a pipelined end of DATA, QUIT) and possibly a message
        being stored; instead the loop finishes those, and its next read ends the session."""
        assert self.session is not None
        keep_open = asyncio.StreamReaderProtocol.eof_received(self)  # EOF for the reader
        # Over TLS the transport cannot stay half open (it closes; aiosmtpd's behaviour then).
        return False if self.session.ssl is not None else keep_open

    def data_received(self, data: bytes) -> None:
        self._idle_since = self.loop.time()
        super().data_received(data)

    async def push(self, status: AnyStr) -> None:
        self._idle_since = self.loop.time()
        _count_client_error(status)
        await super().push(status)

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        self._busy += 1
        try:
            return await super()._call_handler_hook(command, *args)
        finally:
            self._busy -= 1

    def client_ip(self) -> str:
        assert self.session is not None
        return client_ip(self.session)

    # -- timeouts -----------------------------------------------------------------------------

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd's single timer, used as the idle clock (see the module docstring).
        self._idle_since = self.loop.time()
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        # (aiosmtpd expects a handle even with no idle limit; it then fires once and does nothing.)
        self._timeout_handle = self.loop.call_later(max(0.0, duration or self._idle_timeout), self._timeout_cb)

    def _timeout_cb(self) -> None:
        if self._closing or self.transport is None or self._idle_timeout <= 0:
            return
        remaining = self._idle_since + self._idle_timeout - self.loop.time()
        if self._busy or remaining > 0:
            delay = self._idle_timeout if self._busy else remaining
            self._timeout_handle = self.loop.call_later(delay, self._timeout_cb)
            return
        log.info("%s idle for %ss, closing", self.client_ip(), self._idle_timeout)
        self._close_with(replies.R421_IDLE_TIMEOUT.format(hostname=self.hostname))

    def _session_ended(self) -> None:
        self._session_timer = None
        if self._busy or self._in_data:
            self._session_expired = True  # answered first, closed right after
            return
        log.info("%s reached the session time limit, closing", self.client_ip())
        self._close_with(replies.R421_SESSION_TIMEOUT.format(hostname=self.hostname))

    def _close_with(self, reply: str) -> None:
        """Sends a last reply and closes, outside the command loop (timers)."""
        if self._closing or self.transport is None:
            return
        _count_client_error(reply)
        self._writer.write(reply.encode() + b"\r\n")
        self._close()

    def _close(self) -> None:
        self._closing = True
        if self.transport is None:
            return
        self.transport.close()
        transport = self.transport
        self._abort_timer = self.loop.call_later(CLOSE_GRACE, transport.abort)  # type: ignore[attr-defined]

    # -- the session --------------------------------------------------------------------------

    async def _handle_client(self) -> None:
        # The session id (Postal's trace id, in the greeting) is the request id of its log lines.
        greeted = False
        with log_context(request_id=self.session_id):
            try:
                if await self._prelude():
                    greeted = True
                    await self.push(replies.R220_GREETING.format(hostname=self.hostname, session=self.session_id))
                    await self._serve()
            except asyncio.CancelledError:
                self._writer.close()
                raise
            except (ConnectionError, asyncio.IncompleteReadError):
                self._close()
            except Exception as exc:
                # Postal's two kinds: before the session started, or while serving it.
                kind = "data" if greeted else "client-accept"
                metrics.SMTP_EXCEPTIONS.labels(type=kind, error=type(exc).__name__).inc()
                log.exception("%s: the SMTP session failed", self.client_ip())
                self._close()

    async def _prelude(self) -> bool:
        """PROXY line, implicit TLS and the connection cap, before the greeting."""
        if self.shared.settings.proxy_protocol and not await self._read_proxy_line():
            return False
        if self.implicit_tls and not await self._start_tls():
            return False
        ip = self.client_ip()
        if not self.shared.connections.acquire(ip):
            log.warning("%s has too many connections open, refusing another", ip)
            await self.push(replies.R421_TOO_MANY_CONNECTIONS)
            self._close()
            return False
        self._slot = ip
        return True

    async def _read_proxy_line(self) -> bool:
        try:
            line = await asyncio.wait_for(self._reader.readuntil(b"\n"), PROXY_TIMEOUT)
        except (TimeoutError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            line = b""
        proxied = parse_proxy_line(line)
        if proxied is None:
            log.warning("%s sent no valid PROXY line", self.client_ip())
            await self.push(replies.R502_PROXY_ERROR)
            self._close()
            return False
        assert self.session is not None
        metrics.SMTP_COMMANDS.labels(command="PROXY").inc()
        self._peer = (proxied.client_ip, proxied.client_port)
        self.session.peer = self._peer  # type: ignore[assignment]  # as in connection_made
        return True

    async def _start_tls(self) -> bool:
        """Puts TLS under the connection, the way aiosmtpd's STARTTLS does; on success aiosmtpd's
        `connection_made` starts a new session (RFC 3207 §4.2)."""
        assert self.shared.tls is not None and self.transport is not None
        waiter = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(
            self.loop,
            self,
            self.shared.tls.context(),
            waiter,
            server_side=True,
            ssl_handshake_timeout=self._handshake_timeout(),
        )
        self._original_transport = self.transport
        self._original_transport.set_protocol(self._tls_protocol)
        self.transport = self._tls_protocol._app_transport
        self._tls_protocol.connection_made(self._original_transport)
        self._busy += 1
        try:
            await waiter
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.info("TLS handshake with %s failed: %s", self.client_ip(), error)
        finally:
            self._busy -= 1
        assert self.session is not None
        if self.session.ssl is not None:
            metrics.SMTP_TLS_CONNECTIONS.inc()
            return True
        # The TLS layer does not report a failed handshake to us: clean up as if it did.
        self._closing = True
        self.connection_lost(None)
        return False

    def _handshake_timeout(self) -> int:
        if self._idle_timeout <= 0:
            return int(HANDSHAKE_TIMEOUT)
        return max(1, int(min(HANDSHAKE_TIMEOUT, self._idle_timeout)))

    async def _serve(self) -> None:
        while not self._closing and self.transport is not None:
            if self._session_expired:
                await self.push(replies.R421_SESSION_TIMEOUT.format(hostname=self.hostname))
                self._close()
                return
            try:
                line = await self._reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as error:
                await self._discard_line(error.consumed)
                await self.push(replies.R500_LINE_TOO_LONG)
                continue
            line = line.rstrip(b"\r\n")
            if log.isEnabledFor(logging.DEBUG):  # (the arguments cost more than the check)
                log.debug("%s >> %r", self.client_ip(), sanitize(line))
            word, _, rest = line.partition(b" ")
            method = self.commands.get(word.decode("ascii", errors="replace").upper())
            if method is None:
                await self.push(replies.R502_UNSUPPORTED)
                continue
            arg = rest.strip().decode("utf-8", errors="surrogateescape") or None
            try:
                await method(arg)
            except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
                raise
            except Exception as exc:
                metrics.SMTP_EXCEPTIONS.labels(type="data", error=type(exc).__name__).inc()
                log.exception("%s: %s failed", self.client_ip(), word.decode(errors="replace"))
                await self.push(replies.R451_TEMPORARY)

    async def _discard_line(self, consumed: int) -> None:
        await self._reader.readexactly(consumed)
        while True:
            try:
                await self._reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as error:
                await self._reader.readexactly(error.consumed)


def _count_client_error(status: str | bytes) -> None:
    text = status if isinstance(status, str) else status.decode(errors="replace")
    error = replies.client_error(text)
    if error is not None:
        metrics.SMTP_CLIENT_ERRORS.labels(error=error).inc()
