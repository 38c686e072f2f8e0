"""Spam and virus inspection of a message by the daemons the configuration enables (rspamd or spamd, and ClamAV)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.config import Config
from core.inspection import clamav, rspamd, spamd
from core.inspection.checks import Inspection, SpamCheck

__all__ = ["Inspection", "SpamCheck", "inspect_message"]

log = logging.getLogger(__name__)


def inspect_message(
    config: Config, raw: bytes, mail_from: str, rcpt_to: str, token: str, outgoing: bool
) -> Inspection | None:
    """Ask every enabled inspector about `raw`; None when none is enabled.

    rspamd takes precedence over spamd; ClamAV runs in addition. The score is the sum of the checks'
    scores. A daemon that fails or times out adds an ERROR/TIMEOUT check of no points (or a
    non-threat verdict saying so) and nothing raises, so mail is neither blocked nor lost. The
    calls block (for at most the clients' timeouts): run this in a worker thread.
    """
    if not (config.rspamd.enabled or config.spamd.enabled or config.clamav.enabled):
        return None
    checks: list[SpamCheck] = []
    if config.rspamd.enabled:
        checks = _spam_checks(
            "rspamd",
            lambda: rspamd.scan(
                raw,
                config.rspamd.host,
                config.rspamd.port,
                ssl=config.rspamd.ssl,
                password=config.rspamd.password,
                flags=config.rspamd.flags,
                mail_from=mail_from,
                rcpt_to=rcpt_to,
                token=token,
                outgoing=outgoing,
            ),
        )
    elif config.spamd.enabled:
        checks = _spam_checks("spamd", lambda: spamd.scan(raw, config.spamd.host, config.spamd.port, outgoing))
    threat, threat_message = False, ""
    if config.clamav.enabled:
        try:
            threat, threat_message = clamav.scan(raw, config.clamav.host, config.clamav.port)
        except Exception:
            # The client turns every failure it knows into a verdict; this is for the ones it does not.
            log.exception("ClamAV inspection failed")
            threat, threat_message = False, clamav.SCAN_ERROR
    # Postal stores the score with two decimals; rounding keeps sums like 0.1 + 0.2 exact.
    score = round(sum(check.score for check in checks), 2)
    return Inspection(spam_score=score, checks=checks, threat=threat, threat_message=threat_message)


def _spam_checks(name: str, scan: Callable[[], list[SpamCheck]]) -> list[SpamCheck]:
    try:
        return scan()
    except Exception:
        # The clients turn every failure they know into an ERROR check; this is for the ones they do not.
        log.exception("%s inspection failed", name)
        return [SpamCheck("ERROR", 0.0, "Error when scanning for spam")]
