"""Messages to inspect, servers that never answer or answer nonsense, the daemons' binaries."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

import tests.conftest as root_conftest
from tests.support.spam_daemons import find_binary


def require_binary(name: str, package: str) -> str:
    """The path of the daemon `name`; skips the test without it, or fails it under CI=true."""
    path = find_binary(name)
    if path is not None:
        return path
    message = f"{name} is not installed (Debian package {package})"
    if root_conftest.IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; install it to run this test")


class SilentServer:
    """Accepts connections on 127.0.0.1 and never sends a byte: a daemon that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._accepted.append(connection)

    def close(self) -> None:
        # shutdown wakes the accepting thread, which close alone does not on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        for connection in self._accepted:
            connection.close()


class CannedServer:
    """Reads each request on 127.0.0.1 (until the client stops sending) and answers with `reply`, then hangs up."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with connection:
                self.requests.append(self._read_request(connection))
                with contextlib.suppress(OSError):
                    connection.sendall(self.reply)
                    connection.shutdown(socket.SHUT_WR)
                    # Wait for the client to hang up: closing first, with its bytes unread, would reset it.
                    connection.settimeout(5)
                    while connection.recv(65536):
                        pass

    @staticmethod
    def _read_request(connection: socket.socket) -> bytes:
        # spamd's and clamd's clients end their request by shutting down their side; an HTTP
        # client waits for the answer instead, so a short silence ends the request too.
        connection.settimeout(0.3)
        chunks: list[bytes] = []
        with contextlib.suppress(OSError):
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(10)


def message(body: str, subject: str = "Lunch on Friday", headers: str = "") -> bytes:
    """A small, well-formed message from example.com to example.net."""
    return (
        "Received: from mail.example.com by mx.example.net with ESMTPS id 4bXyZ1;\r\n"
        "\tSat, 22 Nov 2025 10:00:01 +0000\r\n"
        "From: Alice Example <alice@example.com>\r\n"
        "To: Bob Example <bob@example.net>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Sat, 22 Nov 2025 10:00:00 +0000\r\n"
        "Message-ID: <20251122100000.4f1c2a@mail.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        f"{headers}"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


PLAIN_BODY = (
    "Hi Bob,\r\n\r\nShall we meet for lunch on Friday at noon? The new place near the station has a\r\n"
    "good soup of the day.\r\n\r\nSee you,\r\nAlice"
)
