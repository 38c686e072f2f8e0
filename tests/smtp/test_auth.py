"""SMTP AUTH over a real socket: CRAM-MD5 against every SMTP credential of the named server, and
the refusals around AUTH (reference §5). PLAIN and LOGIN successes are in test_server.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import smtplib
from collections.abc import Iterator

import pytest

from core.tenancy.credentials import create_credential
from models.enums import CredentialType
from models.server import Server
from tests.conftest import Installation
from tests.smtp.wire import Wire


@pytest.fixture
def wire(smtp_port: int) -> Iterator[Wire]:
    with Wire(smtp_port) as connection:
        connection.reply()
        connection.command("EHLO client.test")
        yield connection


def cram_md5_answer(challenge_line: str, username: str, key: str) -> str:
    challenge = base64.b64decode(challenge_line.removeprefix("334 "))
    digest = hmac.new(key.encode(), challenge, hashlib.md5).hexdigest()
    return base64.b64encode(f"{username} {digest}".encode()).decode()


def second_smtp_key(installation: Installation) -> str:
    with installation.runtime.db.transaction() as session:
        server = session.get(Server, installation.server_id)
        assert server is not None
        return create_credential(session, server, CredentialType.SMTP).key


def test_cram_md5_challenge_names_the_host(wire: Wire) -> None:
    challenge = wire.one("AUTH CRAM-MD5")
    assert challenge.startswith("334 ")
    assert re.fullmatch(r"<[0-9a-f]{20}@postal\.test>", base64.b64decode(challenge[4:]).decode())
    assert wire.one("*") == "501 5.7.0 Auth aborted"


@pytest.mark.parametrize("username", ["acme/main", "acme_main"])
def test_cram_md5_grants_with_any_smtp_key_of_the_server(installation: Installation, wire: Wire, username: str) -> None:
    key = second_smtp_key(installation)  # not the first credential: every key is tried
    challenge = wire.one("AUTH CRAM-MD5")
    assert wire.one(cram_md5_answer(challenge, username, key)) == "235 2.7.0 Granted for acme/main"


def test_cram_md5_with_smtplib(installation: Installation, smtp_port: int) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.user, client.password = installation.server_ref, installation.smtp_key
        assert client.auth("CRAM-MD5", client.auth_cram_md5) == (235, b"2.7.0 Granted for acme/main")


@pytest.mark.parametrize(
    ("username", "key_kind"),
    [
        ("acme/main", "wrong"),  # a key the server does not have
        ("acme/main", "api"),  # a credential, but not an SMTP one
        ("acme/other", "smtp"),  # a server that does not exist
        ("acme", "smtp"),  # no server part at all
    ],
)
def test_cram_md5_denied(installation: Installation, wire: Wire, username: str, key_kind: str) -> None:
    key = {"wrong": "not-the-key-at-all", "api": installation.api_key, "smtp": installation.smtp_key}[key_kind]
    challenge = wire.one("AUTH CRAM-MD5")
    assert wire.one(cram_md5_answer(challenge, username, key)) == "535 5.7.8 Denied"


def test_cram_md5_answer_without_digest_is_denied(wire: Wire) -> None:
    wire.one("AUTH CRAM-MD5")
    assert wire.one(base64.b64encode(b"acme/main").decode()) == "535 5.7.8 Denied"


def test_auth_login_with_wrong_password(wire: Wire) -> None:
    assert wire.one("AUTH LOGIN") == "334 VXNlcm5hbWU6"
    assert wire.one(base64.b64encode(b"someone").decode()) == "334 UGFzc3dvcmQ6"
    assert wire.one(base64.b64encode(b"wrong-password").decode()) == "535 5.7.8 Invalid credential"


def test_auth_plain_without_initial_response(installation: Installation, wire: Wire) -> None:
    assert wire.one("AUTH PLAIN") == "334 "  # RFC 4954: the space is there even with no challenge
    token = base64.b64encode(f"\0user\0{installation.smtp_key}".encode()).decode()
    assert wire.one(token) == "235 2.7.0 Granted for acme/main"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("AUTH", "501 5.5.4 Syntax: AUTH <mechanism>"),
        ("AUTH GSSAPI", "504 5.5.4 Unrecognized authentication type"),
        ("AUTH XOAUTH2 abc", "504 5.5.4 Unrecognized authentication type"),
        ("AUTH PLAIN a b", "501 5.5.4 Syntax: AUTH <mechanism>"),
        ("AUTH PLAIN bm8tc2VwYXJhdG9ycw==", "535 5.7.8 Authenticated failed - protocol error"),  # "no-separators"
    ],
)
def test_auth_errors(wire: Wire, line: str, reply: str) -> None:
    assert wire.one(line) == reply


def test_second_auth_is_refused(installation: Installation, wire: Wire) -> None:
    token = base64.b64encode(f"\0user\0{installation.smtp_key}".encode()).decode()
    assert wire.one(f"auth plain {token}") == "235 2.7.0 Granted for acme/main"
    assert wire.one(f"AUTH PLAIN {token}") == "503 5.5.1 Already authenticated"
