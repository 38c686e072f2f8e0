"""Blocking TCP conversations with an inspection daemon, all bounded by one overall deadline."""

from __future__ import annotations

import socket
import time

# A daemon's reply is a few kilobytes at most; anything larger is not the protocol we speak.
MAX_REPLY_BYTES = 4 * 1024 * 1024
SEND_CHUNK_BYTES = 64 * 1024


class ReplyTooLarge(Exception):
    """The daemon sent more than MAX_REPLY_BYTES."""


class Deadline:
    """A point in time that every socket operation of one conversation must finish before."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer within {self.seconds:g}s")
        return left

    def connect(self, host: str, port: int) -> socket.socket:
        sock = socket.create_connection((host, port), timeout=self.remaining())
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send(self, sock: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), SEND_CHUNK_BYTES):
            sock.settimeout(self.remaining())
            sock.sendall(view[start : start + SEND_CHUNK_BYTES])

    def read_to_end(self, sock: socket.socket) -> bytes:
        """Everything the peer sends until it closes the connection."""
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(self.remaining())
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise ReplyTooLarge(f"reply larger than {MAX_REPLY_BYTES} bytes")
            chunks.append(chunk)
