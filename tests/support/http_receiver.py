"""A real HTTP server on 127.0.0.1 that records the requests it receives (webhook receivers and
HTTP endpoints in tests) and answers with a chosen status, optionally slowly."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HTTPReceiver:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.status = 200
        self.response_body = b"OK"
        self.delay = 0.0
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append(Request("POST", self.path, dict(self.headers.items()), body))
                    receiver._cond.notify_all()
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.response_body)))
                self.end_headers()
                self.wfile.write(receiver.response_body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> HTTPReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True, name="http-receiver").start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"received {len(self.requests)} of {count} requests")
                self._cond.wait(remaining)
            return list(self.requests)
