"""Reading request bodies the same way under every WSGI server: up to the Content-Length, or to
the end of a chunked body (gunicorn marks its input terminated; waitress dechunks it and sets the
Content-Length), never holding more than the caller's limit."""

from __future__ import annotations

from typing import Any

import falcon

_CHUNK = 64 * 1024


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def _body_stream(req: falcon.Request) -> Any:
    """The body: up to its Content-Length, or to its end when the server marks the input as
    terminated (gunicorn, for a chunked request body); without either there is no body."""
    if req.content_length is None and req.env.get("wsgi.input_terminated"):
        return req.stream
    return req.bounded_stream


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to be longer than `limit` bytes: from the
    Content-Length before reading anything, else while reading, so no more than `limit + 1` bytes
    are ever held."""
    if req.content_length is not None and req.content_length > limit:
        raise BodyTooLarge(limit)
    stream = _body_stream(req)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(limit)


def discard_body(req: falcon.Request, cap: int) -> None:
    """Read and drop what is left of the body (at most `cap` bytes), so a client still sending
    it reads our answer instead of a reset connection. A body declared longer than `cap` is left
    alone: the client may be waiting for the answer before it sends any of it, and the server
    either refused it already (waitress) or drains or drops the connection (gunicorn)."""
    if req.content_length is not None and req.content_length > cap:
        return
    remaining = cap
    stream = _body_stream(req)
    try:
        while remaining > 0:
            chunk = stream.read(min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
    except OSError:
        return
