"""TLS on the SMTP server: STARTTLS (RFC 3207), implicit TLS (RFC 8314), AUTH only over TLS
when configured, and certificates renewed without a restart."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from models.base import table
from models.message.message import Message
from tests.conftest import Backend, Installation
from tests.smtp.wire import Wire
from tests.support.certs import self_signed
from tests.support.processes import free_port
from tests.support.smtp_server import running_smtp_server

MESSAGE = b"From: orders@example.com\r\nTo: customer@example.net\r\nSubject: Hi\r\n\r\nHello\r\n"


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    """TLS is the server's business, not the database's: SQLite only."""
    return sqlite_backend


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "tls"
    directory.mkdir()
    return self_signed(directory, "postal.test")


def trusting(cert: Path) -> ssl.SSLContext:
    """A client context that trusts only `cert` and checks the host name (127.0.0.1)."""
    return ssl.create_default_context(cafile=str(cert))


def tls_settings(certificate: tuple[Path, Path], **more: Any) -> dict[str, Any]:
    cert, key = certificate
    return {"tls_enabled": True, "tls_certificate_path": str(cert), "tls_private_key_path": str(key), **more}


@contextmanager
def tls_server(installation: Installation, certificate: tuple[Path, Path], **more: Any) -> Iterator[int]:
    with running_smtp_server(installation.runtime, **tls_settings(certificate, **more)) as port:
        yield port


def peer_certificate(wire: Wire) -> bytes:
    der = wire.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
    assert der is not None
    return der


def der_of(cert: Path) -> bytes:
    return x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(Encoding.DER)


def received_with_ssl(installation: Installation) -> list[bool]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        rows = conn.execute(select(table(Message).c.received_with_ssl).order_by(table(Message).c.id)).all()
    return [bool(r[0]) for r in rows]


def send_one(client: smtplib.SMTP, installation: Installation) -> None:
    client.login(installation.server_ref, installation.smtp_key)
    assert client.sendmail("orders@example.com", ["customer@example.net"], MESSAGE) == {}


# -- STARTTLS ---------------------------------------------------------------------------------


def test_starttls_is_offered_and_verified_against_the_certificate(
    installation: Installation, certificate: tuple[Path, Path]
) -> None:
    with tls_server(installation, certificate) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        assert client.has_extn("starttls")
        assert client.starttls(context=trusting(certificate[0])) == (220, b"2.0.0 Ready to start TLS")
        client.ehlo("client.test")
        assert not client.has_extn("starttls")
        assert client.has_extn("auth")
        send_one(client, installation)
    assert received_with_ssl(installation) == [True]


def test_ehlo_lines_with_tls_available(installation: Installation, certificate: tuple[Path, Path]) -> None:
    with tls_server(installation, certificate) as port, Wire(port) as wire:
        wire.reply()
        assert wire.command("EHLO client.test") == [
            "250-My capabilities are",
            "250-SIZE 14680064",
            "250-8BITMIME",
            "250-PIPELINING",
            "250-ENHANCEDSTATUSCODES",
            "250-STARTTLS",
            "250 AUTH CRAM-MD5 PLAIN LOGIN",
        ]


def test_starttls_resets_the_session(installation: Installation, certificate: tuple[Path, Path]) -> None:
    with tls_server(installation, certificate) as port, Wire(port) as wire:
        wire.reply()
        wire.command("EHLO client.test")
        assert wire.one("STARTTLS") == "220 2.0.0 Ready to start TLS"
        wire.starttls(trusting(certificate[0]))
        # RFC 3207 §4.2: what was said before TLS is forgotten, EHLO comes again.
        assert wire.one("MAIL FROM:<a@example.org>") == "503 5.5.1 EHLO/HELO first please"
        assert wire.command("EHLO client.test")[-2:] == ["250-ENHANCEDSTATUSCODES", "250 AUTH CRAM-MD5 PLAIN LOGIN"]
        assert wire.one("STARTTLS") == "503 5.5.1 TLS already active"


def test_plaintext_sent_after_starttls_is_discarded(installation: Installation, certificate: tuple[Path, Path]) -> None:
    """STARTTLS command injection (CVE-2011-0411): commands pipelined behind STARTTLS in plaintext
    must not be run inside the TLS session."""
    with tls_server(installation, certificate) as port, Wire(port) as wire:
        wire.reply()
        wire.command("EHLO client.test")
        wire.send(b"STARTTLS\r\nRSET\r\n")
        assert wire.reply() == ["220 2.0.0 Ready to start TLS"]
        wire.starttls(trusting(certificate[0]))
        assert wire.one("NOOP") == "250 2.0.0 OK"  # the reply to NOOP, not to the injected RSET


def test_starttls_when_tls_is_off(installation: Installation) -> None:
    with running_smtp_server(installation.runtime) as port, Wire(port) as wire:
        wire.reply()
        wire.command("EHLO client.test")
        assert wire.one("STARTTLS") == "502 5.5.1 TLS not available"
        assert wire.one("NOOP") == "250 2.0.0 OK"


def test_a_failed_handshake_ends_only_that_connection(
    installation: Installation, certificate: tuple[Path, Path]
) -> None:
    with tls_server(installation, certificate, max_connections_per_ip=1) as port:
        with Wire(port) as wire:
            wire.reply()
            assert wire.one("STARTTLS") == "220 2.0.0 Ready to start TLS"
            wire.send(b"this is not a TLS client hello\r\n" * 10)
            assert wire.closed_by_server()
        # Its connection slot was given back (the cap is 1), and TLS still works.
        with Wire(port) as again:
            assert again.reply()[0].startswith("220 ")
            again.command("EHLO client.test")
            again.one("STARTTLS")
            again.starttls(trusting(certificate[0]))
            assert again.one("NOOP") == "250 2.0.0 OK"


# -- AUTH only over TLS -----------------------------------------------------------------------


def test_require_tls_for_auth(installation: Installation, certificate: tuple[Path, Path]) -> None:
    with tls_server(installation, certificate, require_tls_for_auth=True) as port, Wire(port) as wire:
        wire.reply()
        assert wire.command("EHLO client.test")[-1] == "250 STARTTLS"  # no AUTH in plaintext
        assert wire.one("AUTH LOGIN") == "538 5.7.11 Encryption required for requested authentication mechanism"
        wire.one("STARTTLS")
        wire.starttls(trusting(certificate[0]))
        assert wire.command("EHLO client.test")[-1] == "250 AUTH CRAM-MD5 PLAIN LOGIN"
        assert wire.one("AUTH LOGIN") == "334 VXNlcm5hbWU6"


def test_require_tls_for_auth_without_tls_hides_auth(installation: Installation) -> None:
    with running_smtp_server(installation.runtime, require_tls_for_auth=True) as port, Wire(port) as wire:
        wire.reply()
        assert wire.command("EHLO client.test")[-1] == "250 ENHANCEDSTATUSCODES"
        assert wire.one("AUTH PLAIN").startswith("538 5.7.11 ")


# -- implicit TLS -----------------------------------------------------------------------------


@contextmanager
def implicit_server(installation: Installation, certificate: tuple[Path, Path]) -> Iterator[tuple[int, int]]:
    """Yields the plain (STARTTLS) port and the implicit-TLS port of one server."""
    implicit = free_port()
    with running_smtp_server(installation.runtime, implicit, **tls_settings(certificate)) as plain:
        yield plain, implicit


def test_implicit_tls(installation: Installation, certificate: tuple[Path, Path]) -> None:
    with implicit_server(installation, certificate) as (_, port):
        with Wire(port, tls=trusting(certificate[0])) as wire:
            assert wire.reply()[0].startswith("220 postal.test ESMTP Postal/")
            assert peer_certificate(wire) == der_of(certificate[0])
            lines = wire.command("EHLO client.test")
            assert "250-STARTTLS" not in lines and lines[-1] == "250 AUTH CRAM-MD5 PLAIN LOGIN"
            assert wire.one("STARTTLS") == "503 5.5.1 TLS already active"
        with smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=trusting(certificate[0])) as client:
            client.ehlo("client.test")
            send_one(client, installation)
    assert received_with_ssl(installation) == [True]


def test_implicit_tls_port_refuses_plaintext(installation: Installation, certificate: tuple[Path, Path]) -> None:
    with implicit_server(installation, certificate) as (_, port), Wire(port) as wire:
        wire.send("EHLO client.test")
        assert wire.closed_by_server()


def test_plaintext_sessions_are_not_marked_secure(installation: Installation, certificate: tuple[Path, Path]) -> None:
    with tls_server(installation, certificate) as port, smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        send_one(client, installation)
    assert received_with_ssl(installation) == [False]


# -- certificate files ------------------------------------------------------------------------


def replace_certificate(certificate: tuple[Path, Path], tmp_path: Path, name: str) -> Path:
    """Writes a new pair beside the configured one and renames it into place, like ACME clients."""
    staging = tmp_path / name
    staging.mkdir()
    new_cert, new_key = self_signed(staging, f"{name}.postal.test")
    os.replace(new_key, certificate[1])
    os.replace(new_cert, certificate[0])
    return certificate[0]


def test_a_renewed_certificate_is_used_by_new_connections(
    installation: Installation, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    with implicit_server(installation, certificate) as (plain, implicit):
        old = der_of(certificate[0])
        with Wire(implicit, tls=trusting(certificate[0])) as wire:
            wire.reply()
            assert peer_certificate(wire) == old
        renewed = replace_certificate(certificate, tmp_path, "renewed")
        with Wire(implicit, tls=trusting(renewed)) as wire:
            wire.reply()
            assert peer_certificate(wire) == der_of(renewed) != old
        # STARTTLS on the plain listener serves the renewed certificate too.
        with smtplib.SMTP("127.0.0.1", plain, timeout=10) as client:
            client.starttls(context=trusting(renewed))
            assert client.sock.getpeercert(binary_form=True) == der_of(renewed)  # type: ignore[union-attr]


def test_a_broken_renewal_keeps_the_previous_certificate(
    installation: Installation, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    original = der_of(certificate[0])
    with tls_server(installation, certificate) as port:
        certificate[0].write_text("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n")
        with caplog.at_level(logging.ERROR, logger="smtp.tls"), Wire(port) as wire:
            wire.reply()
            wire.command("EHLO client.test")
            wire.one("STARTTLS")
            wire.starttls(ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(original)))
            assert peer_certificate(wire) == original
            assert wire.one("NOOP") == "250 2.0.0 OK"
        assert any("cannot be loaded" in r.getMessage() for r in caplog.records)


def test_a_missing_certificate_stops_the_server_from_starting(installation: Installation, tmp_path: Path) -> None:
    missing = (tmp_path / "none.pem", tmp_path / "none.key")
    with pytest.raises(OSError), running_smtp_server(installation.runtime, **tls_settings(missing)):
        pass
