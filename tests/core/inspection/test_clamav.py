"""ClamAV's clamd, a real one with a local EICAR signature: threats are found, failures are no threat."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest

from core.inspection import clamav
from tests.core.inspection.helpers import PLAIN_BODY, CannedServer, SilentServer, message, require_binary
from tests.support.spam_daemons import CLAMD_PACKAGE, EICAR, EICAR_DETECTION, Daemon, running_clamd


def test_eicar_in_the_body_is_a_threat(clamd_daemon: Daemon) -> None:
    threat, details = clamav.scan(message(f"Here it is:\r\n{EICAR}"), clamd_daemon.host, clamd_daemon.port)

    assert threat
    assert details == EICAR_DETECTION


def test_eicar_in_a_base64_attachment_is_a_threat(clamd_daemon: Daemon) -> None:
    attachment = base64.encodebytes(EICAR.encode()).decode().replace("\n", "\r\n")
    body = (
        "--part\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
        '--part\r\nContent-Type: application/octet-stream; name="eicar.com"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="eicar.com"\r\n\r\n'
        f"{attachment}--part--"
    )
    raw = message(body).replace(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n", b'Content-Type: multipart/mixed; boundary="part"\r\n\r\n'
    )

    assert clamav.scan(raw, clamd_daemon.host, clamd_daemon.port) == (True, EICAR_DETECTION)


def test_clean_message_is_not_a_threat(clamd_daemon: Daemon) -> None:
    assert clamav.scan(message(PLAIN_BODY), clamd_daemon.host, clamd_daemon.port) == (False, "No threats found")


def test_a_message_of_many_chunks_is_scanned_whole(clamd_daemon: Daemon) -> None:
    # Five chunks of the stream; the EICAR string straddles the boundary of the last two.
    filler = "x" * 76 + "\r\n"
    body = filler * (4 * clamav.CHUNK_BYTES // len(filler))
    clean = message(body)
    assert clamav.scan(clean, clamd_daemon.host, clamd_daemon.port) == (False, "No threats found")

    offset = 4 * clamav.CHUNK_BYTES - len(clean) + len(body) - 30
    infected = message(body[:offset] + EICAR + body[offset:])
    assert infected.index(EICAR.encode()) // clamav.CHUNK_BYTES == 3
    assert (infected.index(EICAR.encode()) + len(EICAR)) // clamav.CHUNK_BYTES == 4
    assert clamav.scan(infected, clamd_daemon.host, clamd_daemon.port) == (True, EICAR_DETECTION)


@pytest.fixture(scope="module")
def small_clamd() -> Iterator[Daemon]:
    """A clamd that accepts streams of at most 1 MiB."""
    with running_clamd(require_binary("clamd", CLAMD_PACKAGE), extra_config="StreamMaxLength 1M\n") as daemon:
        yield daemon


def test_a_message_over_clamds_stream_limit_is_an_error_not_a_threat(small_clamd: Daemon) -> None:
    raw = message(EICAR + "\r\n" + "y" * 76 * 40_000)

    assert clamav.scan(raw, small_clamd.host, small_clamd.port) == (False, "Error when scanning for threats")


def test_closed_port_is_an_error_not_a_threat(closed_port: int) -> None:
    assert clamav.scan(message(EICAR), "127.0.0.1", closed_port) == (False, "Error when scanning for threats")


def test_a_reply_that_is_not_clamds_could_not_scan(canned_server: CannedServer) -> None:
    raw = message(EICAR)

    assert clamav.scan(raw, "127.0.0.1", canned_server.port) == (False, "Could not scan message")
    # The request: the command, the message as one length-prefixed chunk, a zero-length chunk.
    [request] = canned_server.requests
    assert request == b"zINSTREAM\0" + len(raw).to_bytes(4, "big") + raw + bytes(4)


def test_a_hang_up_without_a_reply_could_not_scan(canned_server: CannedServer) -> None:
    canned_server.reply = b""

    assert clamav.scan(message(EICAR), "127.0.0.1", canned_server.port) == (False, "Could not scan message")


def test_silent_server_times_out_within_the_timeout(silent_server: SilentServer) -> None:
    started = time.monotonic()
    result = clamav.scan(message(EICAR), "127.0.0.1", silent_server.port, timeout=1.0)

    assert result == (False, "Timed out scanning for threats")
    assert time.monotonic() - started < 3


def test_replies() -> None:
    assert clamav.interpret_reply(b"stream: OK\0") == (False, "No threats found")
    assert clamav.interpret_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\0") == (True, "Win.Test.EICAR_HDB-1")
    assert clamav.interpret_reply(b"stream: Eicar-Signature FOUND\n") == (True, "Eicar-Signature")
    assert clamav.interpret_reply(b"INSTREAM size limit exceeded. ERROR\0") == (
        False,
        "Error when scanning for threats",
    )
    assert clamav.interpret_reply(b"UNKNOWN COMMAND\n") == (False, "Could not scan message")
    assert clamav.interpret_reply(b"stream: Can't allocate memory ERROR\0") == (
        False,
        "Error when scanning for threats",
    )
    assert clamav.interpret_reply(b"") == (False, "Could not scan message")
