"""rspamd's /checkv2 against a fake HTTP server: the request Postal sends, the answer it reads, failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.inspection import SpamCheck, rspamd
from tests.core.inspection.fake_rspamd import FakeRspamd
from tests.core.inspection.helpers import CannedServer, SilentServer, message
from tests.support.spam_daemons import GTUBE


@pytest.fixture
def fake_rspamd() -> Iterator[FakeRspamd]:
    fake = FakeRspamd()
    yield fake
    fake.close()


def scan(port: int, **options: Any) -> list[SpamCheck]:
    arguments: dict[str, Any] = {
        "ssl": False,
        "password": "",
        "flags": "",
        "mail_from": "alice@example.com",
        "rcpt_to": "bob@example.net",
        "token": "Xk3fG8a2LmQp",
        "outgoing": False,
        **options,
    }
    return rspamd.scan(message(GTUBE), "127.0.0.1", port, **arguments)


def test_symbols_with_a_description_become_checks(fake_rspamd: FakeRspamd) -> None:
    checks = scan(fake_rspamd.port)

    # ASN, MIME_TRACE and ONCE_RECEIVED have no description.
    assert checks == [
        SpamCheck("GTUBE", 1000.0, "Generic Test for Unsolicited Bulk Email"),
        SpamCheck("MISSING_MID", 2.5, "Message id is missing"),
        SpamCheck("MISSING_DATE", 1.0, "Date is missing"),
        SpamCheck("R_SPF_NA", 0.0, "Missing SPF record"),
        SpamCheck("FROM_NO_DN", 0.0, "From header does not have a display name"),
        SpamCheck("HFILTER_HOSTNAME_UNKNOWN", 6.0, "Unknown client hostname (PTR or A)"),
    ]


def test_incoming_request(fake_rspamd: FakeRspamd) -> None:
    scan(fake_rspamd.port)

    [(method, path, headers, body)] = fake_rspamd.requests
    assert (method, path, body) == ("POST", "/checkv2", message(GTUBE))
    assert headers["User-Agent"] == "Postal"
    assert headers["Deliver-To"] == "bob@example.net"
    assert headers["From"] == "alice@example.com"
    assert headers["Rcpt"] == "bob@example.net"
    assert headers["Queue-Id"] == "Xk3fG8a2LmQp"
    assert headers["Content-Length"] == str(len(message(GTUBE)))
    # No password, no flags configured; an incoming message is not marked as outbound.
    for absent in ("Password", "Flags", "User", "Ip"):
        assert absent not in headers


def test_outgoing_request_with_password_and_flags(fake_rspamd: FakeRspamd) -> None:
    scan(fake_rspamd.port, password="s3cret", flags="pass_all,groups", outgoing=True, mail_from="")

    [(_, _, headers, _)] = fake_rspamd.requests
    assert headers["Password"] == "s3cret"
    assert headers["Flags"] == "pass_all,groups"
    assert headers["User"] == ""
    assert headers["Ip"] == ""
    assert headers["From"] == ""


def test_an_error_status_is_an_error_check(fake_rspamd: FakeRspamd) -> None:
    fake_rspamd.status = 500
    fake_rspamd.body = b'{"error":"cannot parse input"}'

    assert scan(fake_rspamd.port) == [SpamCheck("ERROR", 0.0, "Error when scanning with rspamd (got 500)")]


def test_an_unreadable_answer_is_an_error_check(fake_rspamd: FakeRspamd) -> None:
    fake_rspamd.body = b"<html>not rspamd</html>"

    [check] = scan(fake_rspamd.port)

    assert (check.code, check.score) == ("ERROR", 0.0)
    assert check.description.startswith("Error when scanning with rspamd (invalid response")


def test_closed_port_is_an_error_check(closed_port: int) -> None:
    assert scan(closed_port) == [SpamCheck("ERROR", 0.0, "Error when scanning with rspamd (ConnectionRefusedError)")]


def test_silent_server_is_an_error_check_within_the_timeout(silent_server: SilentServer) -> None:
    started = time.monotonic()

    assert scan(silent_server.port, timeout=1.0) == [
        SpamCheck("ERROR", 0.0, "Error when scanning with rspamd (TimeoutError)")
    ]
    assert time.monotonic() - started < 3


def test_a_plain_http_server_spoken_to_over_tls_is_an_error_check(fake_rspamd: FakeRspamd) -> None:
    [check] = scan(fake_rspamd.port, ssl=True)

    assert (check.code, check.score) == ("ERROR", 0.0)


def test_a_reply_that_is_not_http_is_an_error_check(canned_server: CannedServer) -> None:
    assert scan(canned_server.port) == [SpamCheck("ERROR", 0.0, "Error when scanning with rspamd (BadStatusLine)")]


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2, 3]",
        b'{"symbols": {"GTUBE": {"description": "Generic Test", "score": "lots"}}}',
        b'{"symbols": {"GTUBE": {"description": "Generic Test", "score": 1e999}}}',
        b"[" * 100_000,
    ],
)
def test_json_that_is_not_rspamds_answer_is_an_error_check(fake_rspamd: FakeRspamd, body: bytes) -> None:
    fake_rspamd.body = body

    [check] = scan(fake_rspamd.port)

    assert (check.code, check.score) == ("ERROR", 0.0)
    assert check.description.startswith("Error when scanning with rspamd (invalid response")


def test_an_answer_without_symbols_has_no_checks(fake_rspamd: FakeRspamd) -> None:
    fake_rspamd.body = b'{"is_skipped": true, "score": 0.0}'

    assert scan(fake_rspamd.port) == []
