"""Tracking requests (reference §3.5): the open-tracking image and tracked-link redirects, served
to requests that the reverse proxy of a track domain marks with `X-Postal-Track-Host: 1`.

A middleware answers them before routing (`resp.complete`), so no route or API ever sees a
tracking request and the track domain's host name serves nothing else.
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from urllib.parse import quote

import falcon

from core.messages.tracking import Visitor, record_click, record_load, server_for_token
from core.runtime import Runtime
from web.client_address import ClientAddress

log = logging.getLogger(__name__)

TRACK_HOST_HEADER = "X-Postal-Track-Host"
# Postal's paths; like Postal's, the patterns match the start of the path.
IMAGE_PATH = re.compile(r"\A/img/([a-z0-9-]+)/([a-z0-9-]+)", re.IGNORECASE)
LINK_PATH = re.compile(r"\A/([a-z0-9-]+)/([a-z0-9-]+)", re.IGNORECASE)
INVALID_SERVER = "Invalid Server Token"
LINK_NOT_FOUND = "Link not found"
# Postal 3.3.6 no longer proxies images: any `src` is refused.
INVALID_SOURCE = "Invalid/missing source image"
HELLO = "Hello."
# Printable ASCII stays as stored; anything else is percent-encoded for the Location header.
_LOCATION_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def _png_pixel() -> bytes:
    """A transparent 1×1 PNG (RFC 2083): signature, IHDR, one IDAT row, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 8-bit RGBA
    pixels = zlib.compress(b"\x00\x00\x00\x00\x00")  # filter byte, one transparent pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


PIXEL = _png_pixel()


def is_tracking_request(req: falcon.Request) -> bool:
    """Postal reads the header as an integer (`to_i == 1`)."""
    value = (req.get_header(TRACK_HOST_HEADER) or "").strip()
    return value.isdigit() and int(value) == 1


class TrackingMiddleware:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.client_address = ClientAddress(runtime.config.postal.trusted_proxies)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not is_tracking_request(req):
            return
        resp.complete = True
        image = IMAGE_PATH.match(req.path)
        if image is not None:
            self._image(req, resp, image.group(1), image.group(2))
            return
        link = LINK_PATH.match(req.path)
        if link is not None:
            self._link(req, resp, link.group(1), link.group(2))
            return
        _text(resp, falcon.HTTP_200, HELLO)

    def _visitor(self, req: falcon.Request) -> Visitor:
        return Visitor(self.client_address.of(req), req.user_agent)

    def _image(self, req: falcon.Request, resp: falcon.Response, server_token: str, message_token: str) -> None:
        state = server_for_token(self.runtime, server_token)
        if state is None:
            _text(resp, falcon.HTTP_404, INVALID_SERVER)
            return
        if "src" in req.params:
            _text(resp, falcon.HTTP_400, INVALID_SOURCE)
            return
        try:
            record_load(self.runtime, state, message_token, self._visitor(req))
        except Exception:
            # As Postal: the image is served even when recording the open failed; the failure is logged.
            log.exception("recording an open of message %s of server %d failed", message_token, state.server.id)
        resp.status = falcon.HTTP_200
        resp.content_type = "image/png"
        resp.data = PIXEL

    def _link(self, req: falcon.Request, resp: falcon.Response, server_token: str, link_token: str) -> None:
        state = server_for_token(self.runtime, server_token)
        if state is None:
            _text(resp, falcon.HTTP_404, INVALID_SERVER)
            return
        url = record_click(self.runtime, state, link_token, self._visitor(req))
        if url is None:
            _text(resp, falcon.HTTP_404, LINK_NOT_FOUND)
            return
        # Only a URL stored when the message was rewritten: never one taken from the request.
        _text(resp, falcon.HTTP_307, f"Redirected to: {url}")
        resp.set_header("Location", quote(url, safe=_LOCATION_SAFE))


def _text(resp: falcon.Response, status: str, text: str) -> None:
    resp.status = status
    resp.content_type = "text/plain; charset=utf-8"
    resp.text = text
