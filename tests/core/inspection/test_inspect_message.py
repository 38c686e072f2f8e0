"""inspect_message: which inspectors the configuration enables, and how their findings add up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.config import Config, build_config
from core.inspection import Inspection, SpamCheck, clamav, inspect_message, rspamd
from tests.core.inspection.fake_rspamd import FakeRspamd
from tests.core.inspection.helpers import PLAIN_BODY, message
from tests.support.spam_daemons import EICAR, EICAR_DETECTION, GTUBE, Daemon


@pytest.fixture
def fake_rspamd() -> Iterator[FakeRspamd]:
    fake = FakeRspamd()
    yield fake
    fake.close()


def make_config(**sections: dict[str, Any]) -> Config:
    return build_config(sections, environ={})


def inspect(cfg: Config, raw: bytes, outgoing: bool = False) -> Inspection | None:
    return inspect_message(cfg, raw, "alice@example.com", "bob@example.net", "Xk3fG8a2LmQp", outgoing)


def test_nothing_enabled_inspects_nothing() -> None:
    assert inspect(make_config(), message(GTUBE)) is None


def test_spamd_and_clamav_find_spam_and_a_threat(spamd_daemon: Daemon, clamd_daemon: Daemon) -> None:
    cfg = make_config(
        spamd={"enabled": True, "host": spamd_daemon.host, "port": spamd_daemon.port},
        clamav={"enabled": True, "host": clamd_daemon.host, "port": clamd_daemon.port},
    )

    spam = inspect(cfg, message(f"{GTUBE}\r\n{EICAR}"))

    assert spam is not None
    assert spam.spam_score > 5
    assert spam.spam_score == round(sum(check.score for check in spam.checks), 2)
    assert "GTUBE" in {check.code for check in spam.checks}
    assert (spam.threat, spam.threat_message) == (True, EICAR_DETECTION)


def test_spamd_and_clamav_pass_a_clean_message(spamd_daemon: Daemon, clamd_daemon: Daemon) -> None:
    cfg = make_config(
        spamd={"enabled": True, "host": spamd_daemon.host, "port": spamd_daemon.port},
        clamav={"enabled": True, "host": clamd_daemon.host, "port": clamd_daemon.port},
    )

    ham = inspect(cfg, message(PLAIN_BODY))

    assert ham is not None
    assert ham.spam_score < 5
    assert not {"GTUBE", "ERROR", "TIMEOUT"} & {check.code for check in ham.checks}
    assert (ham.threat, ham.threat_message) == (False, "No threats found")


def test_clamav_alone_scores_nothing(clamd_daemon: Daemon) -> None:
    cfg = make_config(clamav={"enabled": True, "host": clamd_daemon.host, "port": clamd_daemon.port})

    assert inspect(cfg, message(f"{GTUBE}\r\n{EICAR}")) == Inspection(
        spam_score=0.0, checks=[], threat=True, threat_message=EICAR_DETECTION
    )


def test_rspamd_takes_precedence_over_spamd(fake_rspamd: FakeRspamd, closed_port: int) -> None:
    cfg = make_config(
        rspamd={"enabled": True, "host": "127.0.0.1", "port": fake_rspamd.port, "password": "s3cret"},
        spamd={"enabled": True, "host": "127.0.0.1", "port": closed_port},
    )

    inspection = inspect(cfg, message(GTUBE), outgoing=True)

    assert inspection is not None
    [(_, _, headers, _)] = fake_rspamd.requests
    assert (headers["Password"], headers["Queue-Id"], headers["User"], headers["Ip"]) == (
        "s3cret",
        "Xk3fG8a2LmQp",
        "",
        "",
    )
    assert "ERROR" not in {check.code for check in inspection.checks}
    # The sum of the described symbols, not rspamd's own score (1009.6, which counts them all).
    assert inspection.spam_score == 1009.5
    # Without ClamAV there is no threat verdict at all.
    assert (inspection.threat, inspection.threat_message) == (False, "")


def test_unreachable_daemons_never_raise(closed_port: int) -> None:
    cfg = make_config(
        spamd={"enabled": True, "host": "127.0.0.1", "port": closed_port},
        clamav={"enabled": True, "host": "127.0.0.1", "port": closed_port},
    )

    assert inspect(cfg, message(GTUBE)) == Inspection(
        spam_score=0.0,
        checks=[SpamCheck("ERROR", 0.0, "Error when scanning for spam")],
        threat=False,
        threat_message="Error when scanning for threats",
    )


def test_an_unreachable_rspamd_is_an_error_check(closed_port: int) -> None:
    cfg = make_config(rspamd={"enabled": True, "host": "127.0.0.1", "port": closed_port})

    assert inspect(cfg, message(GTUBE)) == Inspection(
        spam_score=0.0,
        checks=[SpamCheck("ERROR", 0.0, "Error when scanning with rspamd (ConnectionRefusedError)")],
    )


def test_a_failing_client_never_raises(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    # The clients classify every failure they know; an unforeseen one must not lose the message either.
    def broken(*args: object, **kwargs: object) -> Any:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(rspamd, "scan", broken)
    monkeypatch.setattr(clamav, "scan", broken)
    cfg = make_config(
        rspamd={"enabled": True, "host": "127.0.0.1", "port": closed_port},
        clamav={"enabled": True, "host": "127.0.0.1", "port": closed_port},
    )

    assert inspect(cfg, message(GTUBE)) == Inspection(
        spam_score=0.0,
        checks=[SpamCheck("ERROR", 0.0, "Error when scanning for spam")],
        threat=False,
        threat_message="Error when scanning for threats",
    )
