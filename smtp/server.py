"""Starting the SMTP listeners: one PostalSMTP protocol per connection, all sharing one handler,
batcher and `ServerState` (certificate, per-address counters)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable

from core.incoming.submission import submit_many
from core.runtime import Runtime
from core.version import __version__
from smtp.batcher import Batcher
from smtp.connection import ServerState
from smtp.handler import Handler, SubmissionBatcher
from smtp.protocol import PostalSMTP

__all__ = ["PostalSMTP", "SMTPService", "run_smtp_server", "start_smtp_server"]

log = logging.getLogger(__name__)


class SMTPService:
    """The listening sockets of the SMTP server (plain, and SMTPS if any) and their handler."""

    def __init__(self, servers: list[asyncio.Server], handler: Handler, state: ServerState) -> None:
        self.servers = servers
        self.handler = handler
        self.state = state

    async def close(self, timeout: float = 30.0) -> None:
        """Stop accepting connections, then wait for messages already received to be stored,
        so that no client that saw its DATA accepted is left without a reply."""
        for server in self.servers:
            server.close()
        if not await self.handler.batcher.drain(timeout):
            log.warning("SMTP server stopped with submissions still being stored")


def make_handler(runtime: Runtime) -> Handler:
    # One batch at a time: a batch costs a dozen statements and two commits whatever its size
    # (about 6 ms of this process's CPU on a small machine, against 0.5 ms per message in it), and
    # the messages that arrive meanwhile make the next one. Two at a time halved the batches and
    # left most of them with a single message.
    batcher: SubmissionBatcher = Batcher(lambda items: submit_many(runtime, items), max_batch=100, concurrency=1)
    return Handler(runtime, batcher)


async def start_smtp_server(
    runtime: Runtime, host: str, port: int, implicit_tls_port: int | None = None
) -> SMTPService:
    """Listen on `host:port` (both IPv4 and IPv6 for `::`), and with TLS from the first byte on
    `implicit_tls_port` too when given (SMTPS, RFC 8314; needs `smtp_server.tls_enabled`)."""
    config = runtime.config
    state = ServerState.from_config(config)
    if implicit_tls_port and state.tls is None:
        raise ValueError("an implicit-TLS port needs smtp_server.tls_enabled and a certificate")
    handler = make_handler(runtime)
    loop = asyncio.get_running_loop()

    def factory(implicit_tls: bool) -> PostalSMTP:
        return PostalSMTP(handler, state, implicit_tls=implicit_tls, loop=loop)

    servers = [await _listen(loop, lambda: factory(False), host, port)]
    if implicit_tls_port:
        try:
            servers.append(await _listen(loop, lambda: factory(True), host, implicit_tls_port))
        except BaseException:
            servers[0].close()
            raise
    names = ", ".join(str(s.getsockname()[:2]) for server in servers for s in server.sockets)
    log.info("SMTP server (Postal-compatible %s) listening on %s", __version__, names)
    return SMTPService(servers, handler, state)


async def _listen(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], PostalSMTP], host: str, port: int
) -> asyncio.Server:
    if host == "::":
        # Dual stack: IPv4 clients arrive as IPv4-mapped addresses.
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        return await loop.create_server(factory, sock=sock)
    return await loop.create_server(factory, host=host, port=port, reuse_address=True)


def run_smtp_server(runtime: Runtime, host: str, port: int) -> None:
    """`postal smtp-server`: serve until TERM or INT, then close the listeners and finish writes.

    The handlers are the process's own, not the event loop's: asyncio's are removed when the loop
    closes, which gives TERM its default action back while the role is still shutting down (the
    health server, the database pools), so a second TERM then killed it. Here TERM and INT stop the
    server once; later ones, until the process exits, are only logged."""
    stop = asyncio.Event()
    requested: list[int] = []  # the signals received
    running: list[asyncio.AbstractEventLoop] = []

    def on_signal(signum: int, _frame: object) -> None:
        requested.append(signum)
        if len(requested) > 1:
            log.info("SMTP server already stopping (signal %d)", signum)
        elif running and not running[0].is_closed():
            running[0].call_soon_threadsafe(stop.set)

    async def main() -> None:
        running.append(asyncio.get_running_loop())
        service = await start_smtp_server(runtime, host, port, runtime.config.smtp_implicit_tls_port or None)
        if requested:  # told to stop while starting
            stop.set()
        await stop.wait()
        log.info("SMTP server stopping")
        await service.close()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    asyncio.run(main())
