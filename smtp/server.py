"""Starting the SMTP listener: aiosmtpd protocol instances bound to one handler and batcher."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

from aiosmtpd.smtp import SMTP

from core.runtime import Runtime
from core.submission import submit_many
from core.tokens import random_string
from core.version import __version__
from smtp.batcher import Batcher
from smtp.handler import Handler, SubmissionBatcher

log = logging.getLogger(__name__)


class PostalSMTP(SMTP):
    """aiosmtpd's SMTP with Postal's banner; one instance per connection."""

    def __init__(self, handler: Handler, **kwargs: object) -> None:
        # Postal's greeting: `220 <hostname> ESMTP Postal/<session id>`.
        ident = f"ESMTP Postal/{random_string(6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"
        super().__init__(handler, ident=ident, **kwargs)  # type: ignore[arg-type]


class SMTPService:
    """A listening SMTP server and its handler."""

    def __init__(self, server: asyncio.Server, handler: Handler) -> None:
        self.server = server
        self.handler = handler

    async def close(self, timeout: float = 30.0) -> None:
        """Stop accepting connections, then wait for messages already received to be stored,
        so that no client that saw its DATA accepted is left without a reply."""
        self.server.close()
        if not await self.handler.batcher.drain(timeout):
            log.warning("SMTP server stopped with submissions still being stored")


def make_handler(runtime: Runtime) -> Handler:
    batcher: SubmissionBatcher = Batcher(lambda items: submit_many(runtime, items), max_batch=100, concurrency=2)
    return Handler(runtime, batcher)


async def start_smtp_server(runtime: Runtime, host: str, port: int) -> SMTPService:
    """Listen on `host:port` (both IPv4 and IPv6 for `::`)."""
    config = runtime.config
    handler = make_handler(runtime)
    loop = asyncio.get_running_loop()

    def factory() -> PostalSMTP:
        return PostalSMTP(
            handler,
            hostname=config.postal.smtp_hostname,
            data_size_limit=config.max_message_size_bytes,
            auth_require_tls=False,
            enable_SMTPUTF8=True,
            timeout=300,
            loop=loop,
        )

    if host == "::":
        # Dual stack: IPv4 clients arrive as IPv4-mapped addresses.
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
        server = await loop.create_server(factory, sock=sock)
    else:
        server = await loop.create_server(factory, host=host, port=port, reuse_address=True)
    names = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
    log.info("SMTP server (Postal-compatible %s) listening on %s", __version__, names)
    return SMTPService(server, handler)


def run_smtp_server(runtime: Runtime, host: str, port: int) -> None:
    """`postal smtp-server`: serve until TERM or INT, then close the listener and finish writes."""

    async def main() -> None:
        service = await start_smtp_server(runtime, host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("SMTP server stopping")
        await service.close()

    asyncio.run(main())
