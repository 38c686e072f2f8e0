"""Serving the web app: gunicorn for `postal web-server`, waitress inside `postal run`.

Both speak HTTP/1.1 with keep-alive and take chunked request bodies (gunicorn hands the app a
terminated input, waitress a dechunked body with its Content-Length); `web.body` reads either.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import falcon
from waitress.server import create_server

from core.config import Config
from web.api_v1.dispatcher import body_limit

log = logging.getLogger(__name__)

# Open connections the embedded server keeps at once (more wait in the listen backlog).
CONNECTION_LIMIT = 512


def max_request_body(config: Config) -> int:
    """The largest body a server reads before the app sees the request: twice the larger of the
    two APIs' limits, so that the APIs themselves refuse a body a little over their limit with
    their own answer (HTTP 413 in the API's format), and the server refuses anything larger."""
    return 2 * max(body_limit(config.max_message_size_bytes), config.api.max_request_size)


class EmbeddedServer:
    """waitress in a background thread: a pool of `threads` request threads behind one event
    loop that reads whole requests (bodies beyond 512 KB go to a temporary file) first."""

    def __init__(self, app: falcon.App, host: str, port: int, threads: int, max_body: int) -> None:
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=max_body,
            connection_limit=CONNECTION_LIMIT,
            ident="Postal",
            expose_tracebacks=False,
            # poll(), not select(): a busy process may hold descriptors past select()'s 1024.
            asyncore_use_poll=True,
            # Hand X-Forwarded-* on to the app, as gunicorn does: the app trusts them only from
            # `postal.trusted_proxies` (client addresses), and the web UI only to add `Secure`.
            clear_untrusted_proxy_headers=False,
        )
        self.host = host
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    def start(self) -> EmbeddedServer:
        self._thread.start()
        log.info("web server listening on http://%s:%d", self.host, self.port)
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop listening, close every connection, finish the requests in hand and stop."""
        server = self._server

        def close_all() -> None:
            # Runs in the event loop's thread: the loop ends once nothing is left in its map.
            for channel in list(server._map.values()):
                if channel not in (server, server.trigger):
                    channel.close()
            server.close()  # and its wake-up pipe

        try:
            if not self._thread.is_alive():
                raise OSError("the event loop has stopped")
            server.trigger.pull_trigger(close_all)
            self._thread.join(timeout)
        except OSError:
            # No loop to hand the work to (it stopped, or its wake-up pipe is gone): do it here.
            close_all()
        server.task_dispatcher.shutdown(timeout=timeout)


def start_threaded(app: falcon.App, host: str, port: int, config: Config) -> EmbeddedServer:
    """The embedded web server (the all-in-one process), already serving."""
    # Under load waitress warns of every request that waits for a thread; the threads are sized
    # on purpose, so only its errors are logged.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return EmbeddedServer(app, host, port, config.web_server.max_threads, max_request_body(config)).start()


def run_gunicorn(app_factory: Any, host: str, port: int, threads: int, workers: int = 1) -> None:
    """`postal web-server`: gunicorn with threaded workers; the app is built in each worker."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self.cfg.set("bind", [bind])
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("accesslog", "-")
            self.cfg.set("graceful_timeout", 30)

        def load(self) -> Any:
            return app_factory()

    Application().run()
