"""ClamAV's clamd: the message streamed with `zINSTREAM`, and whether clamd found a threat in it."""

from __future__ import annotations

import logging
import socket
import struct

from core.inspection.connection import Deadline

log = logging.getLogger(__name__)

NO_THREAT = "No threats found"
COULD_NOT_SCAN = "Could not scan message"
TIMED_OUT = "Timed out scanning for threats"
SCAN_ERROR = "Error when scanning for threats"

# clamd's StreamMaxLength applies to the whole stream; the chunks only need to fit its buffers.
CHUNK_BYTES = 64 * 1024


def scan(raw: bytes, host: str, port: int, timeout: float = 10.0) -> tuple[bool, str]:
    """(threat found, message): the signature's name for a threat; failures are never a threat.

    `timeout` bounds the whole conversation. A daemon that cannot be reached or fails mid-way is
    "Error when scanning for threats", one that does not answer in time "Timed out scanning for
    threats", an answer that is not clamd's "Could not scan message" (Postal's messages).
    """
    deadline = Deadline(timeout)
    try:
        with deadline.connect(host, port) as sock:
            reply = _instream(sock, raw, deadline)
    except TimeoutError:
        log.warning("clamd at %s:%d did not answer within %gs", host, port, timeout)
        return False, TIMED_OUT
    except Exception as exc:
        log.warning("error talking to clamd at %s:%d: %s: %s", host, port, type(exc).__name__, exc)
        return False, SCAN_ERROR
    return interpret_reply(reply)


def _instream(sock: socket.socket, raw: bytes, deadline: Deadline) -> bytes:
    try:
        deadline.send(sock, b"zINSTREAM\0")
        for start in range(0, len(raw), CHUNK_BYTES):
            chunk = raw[start : start + CHUNK_BYTES]
            deadline.send(sock, struct.pack(">I", len(chunk)) + chunk)
        deadline.send(sock, struct.pack(">I", 0))
        sock.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        # clamd answers and hangs up early when the stream is too long: its answer says why.
        reply = _read_what_is_left(sock, deadline)
        if not reply:
            raise
        return reply
    return deadline.read_to_end(sock)


def _read_what_is_left(sock: socket.socket, deadline: Deadline) -> bytes:
    try:
        return deadline.read_to_end(sock)
    except OSError:
        return b""


def interpret_reply(reply: bytes) -> tuple[bool, str]:
    """(threat found, message) for clamd's reply to one stream (`stream: OK`, `stream: X FOUND`)."""
    text = reply.decode("utf-8", errors="replace").strip("\0\r\n\t ")
    if text.endswith(" ERROR"):
        # "INSTREAM size limit exceeded. ERROR", "stream: Can't allocate memory ERROR": the same
        # message as when clamd hangs up on a stream that is too long before we read its answer.
        log.warning("clamd could not scan a message: %s", text)
        return False, SCAN_ERROR
    verdict = text.removeprefix("stream:").strip() if text.startswith("stream:") else ""
    if verdict.upper() == "OK":
        return False, NO_THREAT
    if verdict.endswith(" FOUND") and verdict.removesuffix(" FOUND").strip():
        return True, verdict.removesuffix(" FOUND").strip()
    log.warning("unexpected reply from clamd: %r", text[:200])
    return False, COULD_NOT_SCAN
