"""SpamAssassin's spamd: a SPAMC `REPORT` request, and the rules of its report turned into checks."""

from __future__ import annotations

import logging
import re
import socket

from core.inspection.checks import SpamCheck
from core.inspection.connection import Deadline

log = logging.getLogger(__name__)

# Rules that say nothing useful about a message we send ourselves (it has not been relayed yet);
# they are dropped for outgoing messages. Postal's list also holds regular expressions that never
# match because it compares codes by equality; leaving them out keeps its behaviour.
OUTGOING_EXCLUSIONS = frozenset(
    {"NO_RECEIVED", "NO_RELAYS", "ALL_TRUSTED", "FREEMAIL_FORGED_REPLYTO", "RDNS_DYNAMIC", "CK_HELO_GENERIC"}
)

TIMEOUT_CHECK = SpamCheck("TIMEOUT", 0.0, "Timed out when scanning for spam")
ERROR_CHECK = SpamCheck("ERROR", 0.0, "Error when scanning for spam")

_STATUS = re.compile(r"^SPAMD/[\d.]+ (\d+) (.*)$")
# The separator under the report table's heading: "---- ---------------------- -----…".
_TABLE_RULE = re.compile(r"^-{3,}\s+-{3,}")
# A table row: points right-aligned in four columns ("-0.0", " 2.5", "1000"), the rule, its
# description. Continuation lines of a long description are indented far deeper.
_ROW = re.compile(r"^\s{0,3}(-?\d+(?:\.\d+)?)\s+(\w+)(?:\s+(.*?))?\s*$")


class SpamdError(Exception):
    """spamd answered, but not with a report."""


def scan(raw: bytes, host: str, port: int, outgoing: bool, timeout: float = 15.0) -> list[SpamCheck]:
    """The checks spamd reports for `raw`; one TIMEOUT or ERROR check (score 0) if it cannot tell.

    `timeout` bounds the whole conversation (Postal allows 15 s).
    """
    try:
        checks = parse_report(_request(raw, host, port, timeout))
    except TimeoutError:
        log.warning("spamd at %s:%d did not answer within %gs", host, port, timeout)
        return [TIMEOUT_CHECK]
    except Exception as exc:
        log.warning("error talking to spamd at %s:%d: %s: %s", host, port, type(exc).__name__, exc)
        return [ERROR_CHECK]
    if outgoing:
        checks = [check for check in checks if check.code not in OUTGOING_EXCLUSIONS]
    return checks


def _request(raw: bytes, host: str, port: int, timeout: float) -> str:
    deadline = Deadline(timeout)
    with deadline.connect(host, port) as sock:
        deadline.send(sock, b"REPORT SPAMC/1.2\r\nContent-length: %d\r\n\r\n" % len(raw) + raw)
        sock.shutdown(socket.SHUT_WR)
        return deadline.read_to_end(sock).decode("utf-8", errors="replace")


def parse_report(reply: str) -> list[SpamCheck]:
    """The rules listed in the table of a spamd `REPORT` reply, in order."""
    lines = reply.splitlines()
    if not lines:
        raise SpamdError("empty reply")
    status = _STATUS.match(lines[0].strip())
    if status is None:
        raise SpamdError(f"not a spamd reply: {lines[0][:80]!r}")
    if status.group(1) != "0":
        raise SpamdError(f"spamd refused the request: {lines[0].strip()}")

    table_start = None
    for index, line in enumerate(lines):
        if _TABLE_RULE.match(line):
            table_start = index + 1
    if table_start is None:
        return []

    codes: list[str] = []
    scores: list[float] = []
    descriptions: list[list[str]] = []
    for line in lines[table_start:]:
        if not line.strip():
            continue
        row = _ROW.match(line)
        if row is not None:
            codes.append(row.group(2))
            scores.append(float(row.group(1)))
            descriptions.append([row.group(3)] if row.group(3) else [])
        elif descriptions:
            descriptions[-1].append(line.strip())
    return [
        SpamCheck(code, score, " ".join(parts)) for code, score, parts in zip(codes, scores, descriptions, strict=True)
    ]
