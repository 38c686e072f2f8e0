"""SpamAssassin's spamd, a real one: GTUBE is spam, a plain note is not, failures become checks."""

from __future__ import annotations

import time

import pytest

from core.inspection import SpamCheck, spamd
from tests.core.inspection.helpers import PLAIN_BODY, CannedServer, SilentServer, message
from tests.support.spam_daemons import GTUBE, Daemon


def test_gtube_scores_as_spam(spamd_daemon: Daemon) -> None:
    checks = spamd.scan(message(f"Buy now!\r\n\r\n{GTUBE}"), spamd_daemon.host, spamd_daemon.port, outgoing=False)

    gtube = [check for check in checks if check.code == "GTUBE"]
    assert gtube, checks
    assert gtube[0].score > 5
    assert gtube[0].description == "BODY: Generic Test for Unsolicited Bulk Email"
    assert sum(check.score for check in checks) > 5


def test_plain_message_is_not_spam(spamd_daemon: Daemon) -> None:
    checks = spamd.scan(message(PLAIN_BODY), spamd_daemon.host, spamd_daemon.port, outgoing=False)

    assert all(check.code not in ("GTUBE", "ERROR", "TIMEOUT") for check in checks), checks
    assert sum(check.score for check in checks) < 5


def test_outgoing_messages_ignore_the_rules_about_relaying(spamd_daemon: Daemon) -> None:
    # Without a Received header spamd reports NO_RECEIVED and NO_RELAYS: normal for mail we send.
    raw = b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: Hello\r\n\r\nJust saying hello.\r\n"

    incoming = {check.code for check in spamd.scan(raw, spamd_daemon.host, spamd_daemon.port, outgoing=False)}
    outgoing = {check.code for check in spamd.scan(raw, spamd_daemon.host, spamd_daemon.port, outgoing=True)}

    assert {"NO_RECEIVED", "NO_RELAYS"} <= incoming
    assert not outgoing & spamd.OUTGOING_EXCLUSIONS
    assert outgoing == incoming - spamd.OUTGOING_EXCLUSIONS


def test_closed_port_gives_an_error_check(closed_port: int) -> None:
    checks = spamd.scan(message(GTUBE), "127.0.0.1", closed_port, outgoing=False)

    assert checks == [SpamCheck("ERROR", 0.0, "Error when scanning for spam")]


def test_a_reply_that_is_not_spamds_gives_an_error_check(canned_server: CannedServer) -> None:
    checks = spamd.scan(message(GTUBE), "127.0.0.1", canned_server.port, outgoing=False)

    assert checks == [SpamCheck("ERROR", 0.0, "Error when scanning for spam")]
    [request] = canned_server.requests
    assert request.startswith(b"REPORT SPAMC/1.2\r\nContent-length: %d\r\n\r\n" % len(message(GTUBE)))


def test_a_hang_up_without_a_reply_gives_an_error_check(canned_server: CannedServer) -> None:
    canned_server.reply = b""

    assert spamd.scan(message(GTUBE), "127.0.0.1", canned_server.port, outgoing=False) == [
        SpamCheck("ERROR", 0.0, "Error when scanning for spam")
    ]


def test_silent_server_gives_a_timeout_check_within_the_timeout(silent_server: SilentServer) -> None:
    started = time.monotonic()
    checks = spamd.scan(message(GTUBE), "127.0.0.1", silent_server.port, outgoing=False, timeout=1.0)

    assert checks == [SpamCheck("TIMEOUT", 0.0, "Timed out when scanning for spam")]
    assert time.monotonic() - started < 3


REPORT = (
    "SPAMD/1.1 0 EX_OK\r\n"
    "Content-length: 1024\r\n"
    "Spam: True ; 1006.4 / 5.0\r\n"
    "\r\n"
    'Spam detection software, running on the system "mx",\r\n'
    "has identified this incoming email as possible spam.\r\n"
    "\r\n"
    "Content analysis details:   (1006.4 points, 5.0 required)\r\n"
    "\r\n"
    " pts rule name              description\r\n"
    "---- ---------------------- --------------------------------------------------\r\n"
    "-0.0 NO_RELAYS              Informational: message was not relayed via SMTP\r\n"
    " 2.5 URIBL_EXAMPLE          Contains an URL listed in the EXAMPLE blocklist\r\n"
    "                            [URIs: spam.example.org]\r\n"
    "1000 GTUBE                  BODY: Generic Test for Unsolicited Bulk Email\r\n"
    " 3.9 LOCAL_RULE\r\n"
    "\r\n"
)


def test_report_rows_and_wrapped_descriptions_are_parsed() -> None:
    assert spamd.parse_report(REPORT) == [
        SpamCheck("NO_RELAYS", -0.0, "Informational: message was not relayed via SMTP"),
        SpamCheck("URIBL_EXAMPLE", 2.5, "Contains an URL listed in the EXAMPLE blocklist [URIs: spam.example.org]"),
        SpamCheck("GTUBE", 1000.0, "BODY: Generic Test for Unsolicited Bulk Email"),
        SpamCheck("LOCAL_RULE", 3.9, ""),
    ]


def test_a_reply_that_is_not_a_report_is_an_error() -> None:
    with pytest.raises(spamd.SpamdError, match="76"):
        spamd.parse_report("SPAMD/1.0 76 Bad header line: (EOF)\r\n")
    with pytest.raises(spamd.SpamdError):
        spamd.parse_report("HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(spamd.SpamdError):
        spamd.parse_report("")
