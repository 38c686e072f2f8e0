"""Serving the web app: gunicorn for `postal web-server`, a threaded server inside `postal run`."""

from __future__ import annotations

import logging
import socketserver
import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import falcon

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # socketserver's backlog of 5 resets connections when a few dozen clients arrive at once.
    request_queue_size = 128


def start_threaded(app: falcon.App, host: str, port: int) -> ThreadingWSGIServer:
    """A thread-per-request server in a background thread (the embedded all-in-one process)."""
    server = make_server(host, port, app, server_class=ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="web", daemon=True)
    thread.start()
    log.info("web server listening on http://%s:%d", host, port)
    return server


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
