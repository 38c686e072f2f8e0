"""Running the platform's SMTP server in a background event loop for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.runtime import Runtime
from smtp.server import SMTPService, start_smtp_server
from tests.support.processes import free_port


@contextmanager
def running_smtp_server(runtime: Runtime) -> Iterator[int]:
    """Yields the port of an SMTP server on 127.0.0.1 served by a thread of its own."""
    port = free_port()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, SMTPService] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(start_smtp_server(runtime, "127.0.0.1", port))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(10):
        raise TimeoutError("the SMTP server did not start")
    try:
        yield port
    finally:

        async def close() -> None:
            await holder["server"].close()

        asyncio.run_coroutine_threadsafe(close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
