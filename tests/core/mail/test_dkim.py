"""DKIM signatures (reference §3.4): RFC 6376 canonicalisation, and signatures on delivered mail
that verify with two implementations independent of ours (dkimpy and Perl's Mail::DKIM)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dkim as dkimpy
import pytest
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from core.dns import make_resolver
from core.mail import dkim
from core.signing import signing_key
from core.tenancy.dns_checks import check_domain, domain_lookup
from core.tenancy.domains import dkim_record_name, dns_records, rotate_dkim
from models.domain import Domain
from models.enums import DNSStatus
from tests.conftest import IN_CI, Installation
from tests.support.dns_server import DNSServer, Zone
from tests.support.outgoing import run_queue, send
from tests.support.smtp_sink import SMTPSink

VERIFIER = Path(__file__).parents[2] / "support" / "dkim_verify.pl"


def test_relaxed_canonicalisation_follows_rfc_6376() -> None:
    # The example of RFC 6376 §3.4.5.
    assert dkim.relaxed_header(b"A: X") == b"a:X"
    assert dkim.relaxed_header(b"B : Y\t\r\n\tZ  ") == b"b:Y Z"
    assert dkim.relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert dkim.relaxed_body(b"") == b""
    assert dkim.relaxed_body(b"\r\n\r\n") == b""
    assert dkim.relaxed_body(b"no newline at the end") == b"no newline at the end\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=" \tab", max_size=12), max_size=8))
def test_relaxed_body_is_what_dkimpy_computes(lines: list[str]) -> None:
    # Bodies of CRLF lines of spaces, tabs and letters (a message body ends with CRLF).
    body = b"".join(line.encode() + b"\r\n" for line in lines)
    assert dkim.relaxed_body(body) == Relaxed.canonicalize_body(body)


def perl_verify(dns_server: DNSServer, signed: bytes) -> str:
    if (
        shutil.which("perl") is None
        or subprocess.run(["perl", "-MMail::DKIM::Verifier", "-e1"], check=False).returncode
    ):
        message = "Perl's Mail::DKIM is not installed (Debian: libmail-dkim-perl)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        ["perl", str(VERIFIER), str(dns_server.port)], input=signed, capture_output=True, check=True, timeout=60
    )
    return result.stdout.decode()


def dkimpy_verify(zone: Zone, signed: bytes) -> bool:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        _, values = zone.lookup(name.decode().rstrip("."), "TXT")
        return values[0].encode() if values else b""

    return bool(dkimpy.verify(signed, dnsfunc=lookup))


def test_mail_is_signed_with_the_installation_key_until_the_domain_key_is_verified(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone, dns_server: DNSServer
) -> None:
    config = installation.runtime.config
    zone.set("postal._domainkey.rp.postal.test", "TXT", dkim.dns_record(signing_key(config.signing_key_path).pem))
    send(installation, "c@example.net")
    run_queue(installation)
    wire = smtp_sink.messages[0].data
    assert b"d=rp.postal.test;" in wire and b"s=postal;" in wire
    assert dkimpy_verify(zone, wire)
    assert perl_verify(dns_server, wire).splitlines()[-1] == "result: pass"


def test_a_verified_domain_signs_with_its_own_2048_bit_key(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone, dns_server: DNSServer
) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        domain = session.scalars(select(Domain)).one()
        domain.dkim_private_key = dkim.generate_private_key(2048)
        domain.dkim_status = DNSStatus.OK
        record = dkim.dns_record(domain.dkim_private_key)
        name = dkim_record_name(runtime.config, domain)
    runtime.servers.forget()
    zone.set(name, "TXT", record)
    raw = (
        b"From: Shop <orders@example.com>\r\nTo: a@example.net\r\nCc: b@example.net\r\nSubject:  Your   order\r\n"
        b"References: <a@example.com>\r\n\t<b@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nLine with  spaces \t\r\n\r\n\r\n"
    )
    send(installation, "a@example.net", raw=raw)
    run_queue(installation)
    wire = smtp_sink.messages[0].data
    assert b"d=example.com;" in wire and f"s={name.split('._domainkey')[0]};".encode() in wire
    # Message-ID and Date were added at submission, above the rest.
    assert b"h=message-id:date:from:to:cc:subject:references:mime-version:content-type;" in wire
    assert dkimpy_verify(zone, wire)
    assert "result: pass" in perl_verify(dns_server, wire)


def test_rotation_signs_with_the_new_key_once_its_record_is_published(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    runtime = installation.runtime
    config = runtime.config
    with runtime.db.transaction() as session:
        domain = session.scalars(select(Domain)).one()
        domain.dkim_status = DNSStatus.OK
        old_name = dkim_record_name(config, domain)
        zone.set(old_name, "TXT", dkim.dns_record(domain.dkim_private_key))
        rotate_dkim(config, domain)
        new_name = dkim_record_name(config, domain, pending=True)
        records = [r for r in dns_records(config, domain) if r.purpose == "dkim"]
    assert [r.name for r in records] == [old_name, new_name] and old_name != new_name
    runtime.servers.forget()

    # Until the new record is published, mail is signed with the old key.
    send(installation, "a@example.net")
    run_queue(installation)
    assert f"s={old_name.split('._domainkey')[0]};".encode() in smtp_sink.messages[-1].data

    # The check finds the new record and switches keys.
    zone.set(new_name, "TXT", records[1].value)
    with runtime.db.transaction() as session:
        domain = session.scalars(select(Domain)).one()
        check_domain(config, domain_lookup(config, make_resolver(config), domain.name), domain)
        assert domain.dkim_pending_private_key is None and domain.dkim_status == DNSStatus.OK
        assert dkim_record_name(config, domain) == new_name
    runtime.servers.forget()
    send(installation, "b@example.net")
    run_queue(installation)
    wire = smtp_sink.messages[-1].data
    assert f"s={new_name.split('._domainkey')[0]};".encode() in wire
    assert dkimpy_verify(zone, wire)


def test_unverified_dkim_status_never_uses_the_domain_key(installation: Installation, smtp_sink: SMTPSink) -> None:
    with installation.runtime.db.transaction() as session:
        session.execute(update(Domain).values(dkim_status=DNSStatus.INVALID))
    installation.runtime.servers.forget()
    send(installation, "c@example.net")
    run_queue(installation)
    assert b"d=rp.postal.test;" in smtp_sink.messages[0].data
