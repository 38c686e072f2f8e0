"""POSTing to the HTTP servers of users (webhooks, HTTP endpoints), with Postal's error codes, and
the check of the URLs they give for them."""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.errors import ValidationError

MAX_RESPONSE_BODY = 2000


@dataclass
class HTTPResult:
    status: int
    body: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> HTTPResult:
    """POST and return the status and the start of the body; a network failure is status -1
    (timeout), -2 (connection) or -3 (invalid certificate), as Postal reports them."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(MAX_RESPONSE_BODY * 4).decode("utf-8", "replace")[:MAX_RESPONSE_BODY]
        return HTTPResult(response.status, text)
    except TimeoutError:
        return HTTPResult(-1, f"Timed out after {timeout:g}s")
    except ssl.SSLCertVerificationError as exc:
        return HTTPResult(-3, f"Invalid SSL certificate: {exc.verify_message or exc}")
    except (OSError, http.client.HTTPException) as exc:
        return HTTPResult(-2, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


def valid_url(url: str) -> str:
    """An http:// or https:// URL with a host name, stripped; else a ValidationError on `url`."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("url", f"must be an http:// or https:// URL, not {url!r}")
    return url
