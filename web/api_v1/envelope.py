"""The Moonrope envelope of API v1 responses, and the errors an action raises to produce one.

Every handled outcome is HTTP 200 with `{"status", "time", "flags", "data"}` in that order
(Moonrope's ActionResult; Postal v3 keeps it): `time` is the seconds the request took, rounded to
milliseconds, `flags` is always empty. Error data is `{"code", "message", …extra}` (Moonrope's
structured errors put the code first). The framework's own answers (unknown action, bad JSON, a
crash) are bare `{"status": …}` objects with HTTP 400/500, as Moonrope's Rack middleware sends them.
One addition: a body too large to read is refused with HTTP 413 and the envelope (`MessageTooLarge`).
"""

from __future__ import annotations

import json
from typing import Any

import falcon

CONTENT_TYPE = "application/json; charset=utf-8"

# Rails escapes these inside JSON strings (ActiveSupport's escape_html_entities_in_json): the
# bytes differ, the decoded values do not. Outside strings none of them can occur.
_RAILS_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_NEEDS_ESCAPE = frozenset(_RAILS_ESCAPES)


class APIError(Exception):
    """An outcome an action reports with `status: error`: `{"code", "message", …extra}`."""

    def __init__(self, code: str, message: str | None = None, **extra: Any) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message
        self.extra = extra

    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code}
        if self.message is not None:
            data["message"] = self.message
        data.update(self.extra)
        return data


class ParameterError(Exception):
    """A missing or mistyped parameter: `status: parameter-error`, `{"message"}`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def dumps(value: Any) -> bytes:
    """Compact JSON as Rails writes it: UTF-8 as is, HTML-significant characters escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if not _NEEDS_ESCAPE.isdisjoint(text):
        text = "".join(_RAILS_ESCAPES.get(c, c) for c in text)
    return text.encode("utf-8", "replace")  # a lone surrogate from a client's JSON becomes "?"


def envelope(status: str, elapsed: float, data: Any) -> bytes:
    return dumps({"status": status, "time": round(elapsed, 3), "flags": {}, "data": data})


def set_json(resp: falcon.Response, body: bytes, http_status: str = falcon.HTTP_200) -> None:
    resp.status = http_status
    resp.content_type = CONTENT_TYPE
    resp.data = body


def success(resp: falcon.Response, elapsed: float, data: Any) -> None:
    set_json(resp, envelope("success", elapsed, data))


def error(resp: falcon.Response, elapsed: float, exc: APIError, http_status: str = falcon.HTTP_200) -> None:
    set_json(resp, envelope("error", elapsed, exc.data()), http_status)


def parameter_error(resp: falcon.Response, elapsed: float, exc: ParameterError) -> None:
    set_json(resp, envelope("parameter-error", elapsed, {"message": exc.message}))


def invalid_controller_or_action(resp: falcon.Response) -> None:
    set_json(resp, dumps({"status": "invalid-controller-or-action"}), falcon.HTTP_400)


def invalid_json(resp: falcon.Response, details: str) -> None:
    set_json(resp, dumps({"status": "invalid-json", "details": details}), falcon.HTTP_400)


def internal_server_error(resp: falcon.Response) -> None:
    set_json(resp, dumps({"status": "internal-server-error"}), falcon.HTTP_500)
