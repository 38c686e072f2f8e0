"""The health server of the worker and SMTP roles (reference §11): `/health`, `/metrics`, `/`.

Postal v3 runs one per process on 127.0.0.1 (worker 9090, SMTP server 9091); when its port is
taken the process logs it and goes on without one, because a busy port must never stop mail.
A small threaded HTTP server in a daemon thread: scrapes never touch the event loop of the SMTP
server or the threads of the worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry

from core.metrics import CONTENT_TYPE, render

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Postal's health server does not share its port: a second process must see it taken.
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], name: str, registry: CollectorRegistry) -> None:
        self.name = name
        self.registry = registry
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._send(200, b"OK", "text/plain")
        elif path == "/metrics":
            try:
                body = render(self.server.registry)
            except Exception as exc:
                # A database that cannot be read makes the queue gauges fail, not the process.
                log.warning("could not collect metrics: %s", exc)
                self._send(500, f"Could not collect metrics: {type(exc).__name__}".encode(), "text/plain")
                return
            self._send(200, body, CONTENT_TYPE)
        elif path == "/":
            text = f"{self.server.name} (pid: {os.getpid()}, host: {socket.gethostname()})"
            self._send(200, text.encode(), "text/plain")
        else:
            self._send(404, b"Not Found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Every scrape would be a log line; only failures are worth one.
        return


class HealthServer:
    """A running health server; `stop()` closes it."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="health-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_health_server(name: str, host: str, port: int, registry: CollectorRegistry) -> HealthServer | None:
    """Serve on `host:port`; None (and a warning) when it cannot listen there."""
    try:
        server = _Server((host, port), name, registry)
    except OSError as exc:
        log.warning("health server not started: cannot listen on %s:%d (%s); going on without it", host, port, exc)
        return None
    log.info("health server listening on %s:%d", host, server.server_address[1])
    return HealthServer(server)
