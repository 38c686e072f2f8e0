"""Classifying an SMTP reply as sent, temporary or permanent, once (STYLE rule 8; reference §3.7)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

_SECONDS = re.compile(r"(\d+) seconds")
_MINUTES = re.compile(r"(\d+) minutes")


class ReplyClass(Enum):
    SENT = "Sent"
    SOFT = "SoftFail"
    HARD = "HardFail"


@dataclass(frozen=True)
class Classification:
    kind: ReplyClass
    # Seconds the remote asked us to wait ("try again in N minutes"), if it said so.
    retry_in: int | None = None


def classify(code: int, text: str = "") -> Classification:
    """Postal's rule, from Ruby's Net::SMTP error classes.

    2xx: sent. 4xx (server busy), 50x (syntax), 53x (authentication) and anything unknown:
    temporary. Every other 5xx (51x, 52x, 54x-59x, e.g. 550, 552, 554): permanent.
    """
    if 200 <= code < 300:
        return Classification(ReplyClass.SENT)
    if 500 <= code < 600 and not (500 <= code < 510 or 530 <= code < 540):
        return Classification(ReplyClass.HARD)
    return Classification(ReplyClass.SOFT, retry_hint(text))


def retry_hint(text: str) -> int | None:
    """ "N seconds" → N+10 s, "N minutes" → N·60+10 s, as Postal honours them."""
    if match := _SECONDS.search(text):
        return int(match.group(1)) + 10
    if match := _MINUTES.search(text):
        return int(match.group(1)) * 60 + 10
    return None
