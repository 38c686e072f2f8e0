"""rspamd: the message posted to its `/checkv2` HTTP endpoint, and the described symbols as checks."""

from __future__ import annotations

import http.client
import json
import logging
import math
from typing import Any

from core.inspection.checks import SpamCheck

log = logging.getLogger(__name__)


class RspamdError(Exception):
    """rspamd did not give a usable answer; the message says how, for the ERROR check."""


def scan(
    raw: bytes,
    host: str,
    port: int,
    *,
    ssl: bool,
    password: str,
    flags: str,
    mail_from: str,
    rcpt_to: str,
    token: str,
    outgoing: bool,
    timeout: float = 10.0,
) -> list[SpamCheck]:
    """A check per symbol of rspamd's answer that has a description; one ERROR check on failure.

    `timeout` bounds the connection and each read, like Postal's open and read timeouts.
    """
    headers: dict[str, bytes] = {}
    if password:
        headers["Password"] = password.encode()
    if flags:
        headers["Flags"] = flags.encode()
    headers["User-Agent"] = b"Postal"
    headers["Deliver-To"] = rcpt_to.encode()
    headers["From"] = mail_from.encode()
    headers["Rcpt"] = rcpt_to.encode()
    headers["Queue-Id"] = token.encode()
    if outgoing:
        # An empty user and address make rspamd treat the message as outbound and skip the checks
        # that only make sense for mail received from elsewhere (rspamd's "scanning outbound").
        headers["User"] = b""
        headers["Ip"] = b""
    try:
        return parse_response(_post(raw, host, port, ssl, headers, timeout))
    except RspamdError as exc:
        log.warning("rspamd at %s:%d: %s", host, port, exc)
        return [SpamCheck("ERROR", 0.0, str(exc))]


def _post(raw: bytes, host: str, port: int, ssl: bool, headers: dict[str, bytes], timeout: float) -> bytes:
    connection: http.client.HTTPConnection
    if ssl:
        connection = http.client.HTTPSConnection(host, port, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", "/checkv2", body=raw, headers=headers)
        response = connection.getresponse()
        body = response.read()
    except Exception as exc:
        # Postal's wording: the exception's class, not its message.
        raise RspamdError(f"Error when scanning with rspamd ({type(exc).__name__})") from exc
    finally:
        connection.close()
    if response.status != 200:
        raise RspamdError(f"Error when scanning with rspamd (got {response.status})")
    return body


def parse_response(body: bytes) -> list[SpamCheck]:
    """The checks of a `/checkv2` JSON answer: its symbols that have a description, in order."""
    try:
        data: Any = json.loads(body)
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        symbols = data.get("symbols")
        if not isinstance(symbols, dict):
            return []
        checks: list[SpamCheck] = []
        for key, symbol in symbols.items():
            if not isinstance(symbol, dict) or not symbol.get("description"):
                continue
            score = float(symbol.get("score") or 0.0)
            if not math.isfinite(score):
                raise ValueError(f"score {score} of {key}")
            checks.append(SpamCheck(str(symbol.get("name") or key), score, str(symbol["description"])))
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the parser goes.
        raise RspamdError(f"Error when scanning with rspamd (invalid response: {exc})") from exc
    return checks
