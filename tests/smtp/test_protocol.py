"""Postal's SMTP conversation over a real socket: greeting, EHLO, the order of commands, DATA
framing (SMTP smuggling) and the size limit (reference §5)."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from core.messages.raw_store import load_raw_message
from models.base import table
from models.message.message import Message
from tests.conftest import Backend, Installation
from tests.smtp.wire import Wire
from tests.support.smtp_server import running_smtp_server

MESSAGE = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"
EHLO_PLAIN = [
    "250-My capabilities are",
    "250-SIZE 14680064",
    "250-8BITMIME",
    "250-PIPELINING",
    "250-ENHANCEDSTATUSCODES",
    "250 AUTH CRAM-MD5 PLAIN LOGIN",
]


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    """The conversation does not depend on the database: SQLite only."""
    return sqlite_backend


@pytest.fixture
def wire(smtp_port: int) -> Iterator[Wire]:
    """A connection past the greeting."""
    with Wire(smtp_port) as connection:
        connection.reply()
        yield connection


def authenticated(wire: Wire, installation: Installation) -> Wire:
    import base64

    wire.command("EHLO client.test")
    token = base64.b64encode(f"\0x\0{installation.smtp_key}".encode()).decode()
    assert wire.one(f"AUTH PLAIN {token}").startswith("235 ")
    return wire


def stored_messages(installation: Installation) -> list[bytes]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        rows = conn.execute(select(table(Message)).order_by(table(Message).c.id)).mappings().all()
        raws = [load_raw_message(conn, r["raw_table"], r["raw_headers_id"], r["raw_body_id"]) for r in rows]
    return [raw or b"" for raw in raws]


# -- greeting and session commands ------------------------------------------------------------


def test_greeting_is_postals(smtp_port: int) -> None:
    with Wire(smtp_port) as wire:
        (greeting,) = wire.reply()
    prefix, _, session = greeting.rpartition("/")
    assert prefix == "220 postal.test ESMTP Postal"
    assert len(session) == 6 and session.isalpha() and session.isupper()


def test_ehlo_lists_the_capabilities(wire: Wire) -> None:
    assert wire.command("EHLO client.test") == EHLO_PLAIN


def test_ehlo_works_with_smtplib(smtp_port: int) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        code, _ = client.ehlo("client.test")
        assert code == 250
        # (smtplib keeps a leading space in the AUTH value.)
        assert {k: v.strip() for k, v in client.esmtp_features.items()} == {
            "size": "14680064",
            "8bitmime": "",
            "pipelining": "",
            "enhancedstatuscodes": "",
            "auth": "CRAM-MD5 PLAIN LOGIN",
        }


def test_helo_answers_with_the_host_name(wire: Wire) -> None:
    assert wire.command("HELO client.test") == ["250 postal.test"]


@pytest.mark.parametrize("command", ["HELO", "EHLO"])
def test_hello_needs_a_name(wire: Wire, command: str) -> None:
    assert wire.one(command) == f"501 5.5.4 Syntax: {command} hostname"


def test_noop_rset_quit(wire: Wire) -> None:
    assert wire.one("NOOP") == "250 2.0.0 OK"
    assert wire.one("RSET") == "250 2.0.0 OK"
    assert wire.one("QUIT") == "221 2.0.0 Closing Connection"
    assert wire.closed_by_server()


@pytest.mark.parametrize("line", ["VRFY postmaster", "EXPN staff", "HELP", "TURN", "XYZZY now", "", "ÉHLO x"])
def test_anything_else_is_unsupported(wire: Wire, line: str) -> None:
    assert wire.one(line) == "502 5.5.1 Invalid/unsupported command"
    assert wire.one("NOOP") == "250 2.0.0 OK"  # and the session goes on


def test_commands_are_case_insensitive(wire: Wire) -> None:
    assert wire.command("ehlo client.test") == EHLO_PLAIN
    assert wire.one("noop") == "250 2.0.0 OK"


def test_an_overlong_command_line_is_refused_and_the_session_goes_on(wire: Wire) -> None:
    wire.send("NOOP " + "x" * 5000)
    assert wire.reply() == ["500 5.5.2 Line too long"]
    assert wire.one("NOOP") == "250 2.0.0 OK"


# -- order of commands ------------------------------------------------------------------------


def test_mail_needs_hello_first(wire: Wire) -> None:
    assert wire.one("MAIL FROM:<a@example.org>") == "503 5.5.1 EHLO/HELO first please"


def test_rcpt_needs_mail_first(wire: Wire) -> None:
    assert wire.one("RCPT TO:<b@example.net>") == "503 5.5.1 EHLO/HELO and MAIL FROM first please"
    wire.command("EHLO client.test")
    assert wire.one("RCPT TO:<b@example.net>") == "503 5.5.1 EHLO/HELO and MAIL FROM first please"


def test_data_needs_an_accepted_recipient(wire: Wire) -> None:
    needs = "503 5.5.1 HELO/EHLO, MAIL FROM and RCPT TO before sending data"
    assert wire.one("DATA") == needs
    wire.command("EHLO client.test")
    assert wire.one("DATA") == needs
    assert wire.one("MAIL FROM:<a@example.org>") == "250 2.1.0 OK"
    assert wire.one("DATA") == needs
    # A refused recipient does not count.
    assert wire.one("RCPT TO:<b@example.net>") == "530 5.7.0 Authentication required"
    assert wire.one("DATA") == needs


def test_rset_and_hello_end_the_transaction(wire: Wire) -> None:
    wire.command("EHLO client.test")
    assert wire.one("MAIL FROM:<a@example.org>") == "250 2.1.0 OK"
    assert wire.one("RSET") == "250 2.0.0 OK"
    assert wire.one("RCPT TO:<b@example.net>") == "503 5.5.1 EHLO/HELO and MAIL FROM first please"
    assert wire.one("MAIL FROM:<a@example.org>") == "250 2.1.0 OK"
    wire.command("EHLO client.test")
    assert wire.one("RCPT TO:<b@example.net>") == "503 5.5.1 EHLO/HELO and MAIL FROM first please"


def test_a_second_mail_starts_a_new_transaction(wire: Wire, installation: Installation) -> None:
    authenticated(wire, installation)
    assert wire.one("MAIL FROM:<a@example.org>") == "250 2.1.0 OK"
    assert wire.one("RCPT TO:<b@example.net>") == "250 2.1.5 OK"
    assert wire.one("MAIL FROM:<orders@example.com>") == "250 2.1.0 OK"
    assert wire.one("DATA").startswith("503 ")


@pytest.mark.parametrize(
    "line",
    [
        "MAIL FROM:<>",
        "MAIL FROM: <orders@example.com>",
        "MAIL FROM:<orders@example.com> AUTH=<orders@example.com>",
        "MAIL FROM:<orders@example.com> BODY=8BITMIME SIZE=1000",
    ],
)
def test_mail_from_forms_postal_accepts(wire: Wire, line: str) -> None:
    wire.command("EHLO client.test")
    assert wire.one(line) == "250 2.1.0 OK"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("MAIL TO:<a@example.org>", "501 5.5.4 Syntax: MAIL FROM:<address>"),
        ("MAIL FROM:<a@example.org> FOO=1", "555 5.5.4 MAIL FROM parameters not recognized or not implemented"),
        ("MAIL FROM:<a@example.org> BODY=BINARYMIME", "501 5.5.4 BODY can only be 7BIT or 8BITMIME"),
        ("MAIL FROM:<a@example.org> SIZE=99999999", "552 5.3.4 Message too large (maximum size 14MB)"),
    ],
)
def test_mail_from_errors(wire: Wire, line: str, reply: str) -> None:
    wire.command("EHLO client.test")
    assert wire.one(line) == reply


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("RCPT TO:<>", "501 5.1.3 RCPT TO should not be empty"),
        ("RCPT TO:<nodomain>", "501 5.1.3 Invalid RCPT TO"),
        ("RCPT FROM:<a@example.net>", "501 5.5.4 Syntax: RCPT TO:<address>"),
    ],
)
def test_rcpt_to_errors(wire: Wire, line: str, reply: str) -> None:
    wire.command("EHLO client.test")
    wire.command("MAIL FROM:<a@example.org>")
    assert wire.one(line) == reply


def test_auth_needs_no_hello(wire: Wire, installation: Installation) -> None:
    import base64

    token = base64.b64encode(f"\0x\0{installation.smtp_key}".encode()).decode()
    assert wire.one(f"AUTH PLAIN {token}") == "235 2.7.0 Granted for acme/main"


# -- DATA -------------------------------------------------------------------------------------


def test_data_goes_ahead_and_is_stored(wire: Wire, installation: Installation) -> None:
    authenticated(wire, installation)
    wire.command("MAIL FROM:<orders@example.com>")
    wire.command("RCPT TO:<customer@example.net>")
    assert wire.one("DATA") == "354 Go ahead"
    wire.send(MESSAGE.replace(b"Hello", b"..dotted line") + b".\r\n")
    assert wire.reply() == ["250 2.0.0 OK"]
    # The session is back to "welcomed": a new transaction needs a new MAIL.
    assert wire.one("RCPT TO:<x@example.net>") == "503 5.5.1 EHLO/HELO and MAIL FROM first please"
    (raw,) = stored_messages(installation)
    assert raw.endswith(b"\r\n\r\n.dotted line\r\n")


def test_pipelined_commands_get_their_replies_in_order(wire: Wire, installation: Installation) -> None:
    authenticated(wire, installation)
    wire.send(b"MAIL FROM:<orders@example.com>\r\nRCPT TO:<customer@example.net>\r\nDATA\r\n")
    assert [wire.reply(), wire.reply(), wire.reply()] == [["250 2.1.0 OK"], ["250 2.1.5 OK"], ["354 Go ahead"]]
    wire.send(MESSAGE + b".\r\nNOOP\r\n")
    assert [wire.reply(), wire.reply()] == [["250 2.0.0 OK"], ["250 2.0.0 OK"]]


SMUGGLED = (
    b"MAIL FROM:<orders@example.com>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n"
    b"From: orders@example.com\r\nSubject: smuggled\r\n\r\nGotcha\r\n"
)


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n"])
def test_a_message_ends_only_at_crlf_dot_crlf(wire: Wire, installation: Installation, fake_end: bytes) -> None:
    """SMTP smuggling: an end-of-data look-alike must not let a second message through."""
    authenticated(wire, installation)
    wire.command("MAIL FROM:<orders@example.com>")
    wire.command("RCPT TO:<customer@example.net>")
    assert wire.one("DATA") == "354 Go ahead"
    wire.send(MESSAGE.rstrip(b"\r\n") + fake_end + SMUGGLED + b"\r\n.\r\n")
    assert wire.reply() == ["250 2.0.0 OK"]
    # Nothing of the smuggled commands was answered: the next reply is the NOOP's.
    assert wire.one("NOOP") == "250 2.0.0 OK"
    (raw,) = stored_messages(installation)
    assert b"RCPT TO:<victim@example.net>" in raw and b"Gotcha" in raw


def test_a_message_larger_than_the_limit_is_refused_after_its_end(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, max_message_size=1) as port, Wire(port) as wire:
        wire.reply()
        authenticated(wire, installation)
        wire.command("MAIL FROM:<orders@example.com>")
        wire.command("RCPT TO:<customer@example.net>")
        assert wire.one("DATA") == "354 Go ahead"
        line = b"x" * 998 + b"\r\n"
        wire.send(MESSAGE + line * 1100 + b".\r\n")  # 1.1 MB
        assert wire.reply() == ["552 5.3.4 Message too large (maximum size 1MB)"]
        # The session is still usable.
        wire.command("MAIL FROM:<orders@example.com>")
        wire.command("RCPT TO:<customer@example.net>")
        wire.command("DATA")
        wire.send(MESSAGE + b".\r\n")
        assert wire.reply() == ["250 2.0.0 OK"]
    assert len(stored_messages(installation)) == 1


def test_long_lines_in_data_are_kept(wire: Wire, installation: Installation) -> None:
    authenticated(wire, installation)
    wire.command("MAIL FROM:<orders@example.com>")
    wire.command("RCPT TO:<customer@example.net>")
    wire.command("DATA")
    long_line = b"y" * 5000
    wire.send(MESSAGE + long_line + b"\r\n.\r\n")
    assert wire.reply() == ["250 2.0.0 OK"]
    (raw,) = stored_messages(installation)
    assert raw.endswith(b"Hello\r\n" + long_line + b"\r\n")


def test_nothing_is_stored_when_the_client_goes_away_mid_data(smtp_port: int, installation: Installation) -> None:
    with Wire(smtp_port) as wire:
        wire.reply()
        authenticated(wire, installation)
        wire.command("MAIL FROM:<orders@example.com>")
        wire.command("RCPT TO:<customer@example.net>")
        wire.command("DATA")
        wire.send(MESSAGE)
    # Another session afterwards proves the server is fine, and the half message was dropped.
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        assert client.noop()[0] == 250
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table(Message))).scalar() == 0


def test_a_client_that_closes_right_after_pipelining_gets_its_message_stored(
    wire: Wire, installation: Installation
) -> None:
    """End of DATA and QUIT sent in one go, then the client shuts its side: nothing is dropped."""
    authenticated(wire, installation)
    wire.send(b"MAIL FROM:<orders@example.com>\r\nRCPT TO:<customer@example.net>\r\nDATA\r\n")
    assert [wire.reply(), wire.reply(), wire.reply()] == [["250 2.1.0 OK"], ["250 2.1.5 OK"], ["354 Go ahead"]]
    wire.send(MESSAGE + b".\r\nQUIT\r\n")
    wire.sock.shutdown(socket.SHUT_WR)
    assert [wire.reply(), wire.reply()] == [["250 2.0.0 OK"], ["221 2.0.0 Closing Connection"]]
    assert len(stored_messages(installation)) == 1
