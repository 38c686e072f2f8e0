"""Errors of the management API: an HTTP status and a stable `code`, sent as `{"error": {...}}`."""

from __future__ import annotations

from typing import Any

from core.errors import PostalError

# Every code the API answers with; the OpenAPI document lists them.
CODES = {
    "invalid_request": 400,
    "invalid_json": 400,
    "invalid_cursor": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_failed": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}


class APIError(PostalError):
    """A request the API refuses; `details` is extra machine-readable context."""

    def __init__(self, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = CODES[code]
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def not_found(kind: str) -> APIError:
    """The same answer for "does not exist" and "belongs to someone else": no existence leak."""
    return APIError("not_found", f"{kind} not found")


def forbidden(message: str = "you are not allowed to do this") -> APIError:
    return APIError("forbidden", message)
