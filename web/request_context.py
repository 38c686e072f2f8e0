"""Falcon middleware giving each request an id: in the log context of everything the request
logs, and in the `X-Request-ID` response header so a user's report can be found in the logs."""

from __future__ import annotations

import re
import secrets
from typing import Any

import falcon

from core.logs import bind, unbind

HEADER = "X-Request-ID"
# A reverse proxy's id is kept when it looks like one (no log injection through the header).
_ACCEPTABLE = re.compile(r"\A[A-Za-z0-9._:-]{8,128}\Z")


class RequestContext:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header(HEADER) or ""
        request_id = given if _ACCEPTABLE.match(given) else secrets.token_hex(8)
        req.context.request_id = request_id
        req.context.log_tokens = bind(request_id=request_id)
        resp.set_header(HEADER, request_id)

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool) -> None:
        tokens = getattr(req.context, "log_tokens", None)
        req.context.log_tokens = None
        if tokens:
            unbind(tokens)
