"""What inspecting a message found: the spam checks that matched, and whether it carries a threat."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SpamCheck:
    """One spam rule that matched: its code (`GTUBE`, or `ERROR`/`TIMEOUT`), its points, its meaning.

    The description is empty for a rule that has none.
    """

    code: str
    score: float
    description: str


@dataclass
class Inspection:
    """The outcome of the enabled inspectors (§4.5): the summed spam score, its checks, the threat verdict.

    `threat_message` is the signature's name for a threat, ClamAV's verdict or failure otherwise,
    and empty when ClamAV is not enabled. Whether the score makes the message spam is the caller's
    decision: it depends on the server's thresholds.
    """

    spam_score: float
    checks: list[SpamCheck] = field(default_factory=list)
    threat: bool = False
    threat_message: str = ""
