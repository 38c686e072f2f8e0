"""Running the platform's SMTP server in a background event loop for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.config import replace
from core.runtime import Runtime
from smtp.server import SMTPService, start_smtp_server
from tests.support.processes import free_port


@contextmanager
def running_smtp_server(runtime: Runtime, implicit_tls_port: int | None = None, **settings: Any) -> Iterator[int]:
    """Yields the port of an SMTP server on 127.0.0.1 served by a thread of its own. `settings`
    override keys of the `smtp_server` configuration section while it runs (e.g.
    `idle_timeout=1`); with `implicit_tls_port` it also listens there with implicit TLS."""
    original = runtime.config
    if settings:
        runtime.config = replace(original, smtp_server=settings)
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, SMTPService | BaseException] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder["server"] = loop.run_until_complete(start_smtp_server(runtime, "127.0.0.1", port, implicit_tls_port))
        except BaseException as error:
            holder["server"] = error
            return
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        if not started.wait(10):
            raise TimeoutError("the SMTP server did not start")
        service = holder["server"]
        if isinstance(service, BaseException):
            raise service
        try:
            yield port
        finally:
            asyncio.run_coroutine_threadsafe(service.close(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
    finally:
        thread.join(10)
        loop.close()
        runtime.config = original
