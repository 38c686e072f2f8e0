"""Domain verification and DNS checks against a real DNS server (Postal's rules and texts)."""

from __future__ import annotations

from collections.abc import Iterator

import dns.resolver
import pytest

from core.config import build_config
from core.mail import dkim
from core.tenancy.dns_checks import check_domain, domain_lookup, make_lookup, verify_domain
from core.tenancy.domains import dkim_record_name
from models.domain import Domain
from models.enums import DNSStatus, OwnerType
from tests.support.dns_server import DNSServer, Zone

KEY = dkim.generate_private_key(1024)


@pytest.fixture
def config(dns_server: DNSServer) -> object:
    return build_config(
        {
            "dns": {
                "nameservers": ["127.0.0.1"],
                "port": dns_server.port,
                "spf_include": "spf.postal.test",
                "return_path_domain": "rp.postal.test",
                "mx_records": ["mx1.postal.test", "mx2.postal.test"],
            }
        },
        environ={},
    )


@pytest.fixture
def resolver(dns_server: DNSServer) -> dns.resolver.Resolver:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers, r.port, r.lifetime, r.cache = ["127.0.0.1"], dns_server.port, 3, None
    return r


@pytest.fixture
def domain() -> Domain:
    return Domain(
        name="example.com",
        owner_type=OwnerType.SERVER,
        owner_id=1,
        verification_token="tok123",
        dkim_private_key=KEY,
        dkim_identifier_string="AbCdEf",
    )


def check(config: object, resolver: dns.resolver.Resolver, domain: Domain) -> dict[str, object]:
    check_domain(config, make_lookup(resolver), domain)  # type: ignore[arg-type]
    return {
        name: (getattr(domain, f"{name}_status"), getattr(domain, f"{name}_error"))
        for name in ("spf", "dkim", "mx", "return_path")
    }


def test_everything_missing(config: object, resolver: dns.resolver.Resolver, domain: Domain, zone: Zone) -> None:
    assert check(config, resolver, domain) == {
        "spf": (DNSStatus.MISSING, "No SPF record exists for this domain"),
        "dkim": (DNSStatus.MISSING, "No TXT records were returned for postal-AbCdEf._domainkey.example.com"),
        "mx": (DNSStatus.MISSING, "There are no MX records for example.com"),
        "return_path": (DNSStatus.MISSING, "There is no return path record at psrp.example.com"),
    }
    assert domain.dns_checked_at is not None and not domain.dns_ok


def test_everything_wrong(config: object, resolver: dns.resolver.Resolver, domain: Domain, zone: Zone) -> None:
    zone.set("example.com", "TXT", "v=spf1 include:_spf.other.example ~all")
    zone.set("postal-AbCdEf._domainkey.example.com", "TXT", "v=DKIM1; p=WRONG")
    zone.set("example.com", "MX", "10 mx1.postal.test.", "20 mx.other.example.")
    zone.set("psrp.example.com", "CNAME", "rp.other.example.")
    assert check(config, resolver, domain) == {
        "spf": (DNSStatus.INVALID, "An SPF record exists but it doesn't include spf.postal.test"),
        "dkim": (
            DNSStatus.INVALID,
            "The DKIM record at postal-AbCdEf._domainkey.example.com does not match the record we have "
            "provided. Please check it has been copied correctly.",
        ),
        "mx": (DNSStatus.INVALID, "MX record for mx2.postal.test are missing and are required."),
        "return_path": (
            DNSStatus.INVALID,
            "There is a CNAME record at psrp.example.com but it points to rp.other.example which is incorrect. "
            "It should point to rp.postal.test.",
        ),
    }


def test_mx_pointing_elsewhere_counts_as_missing_and_is_still_dns_ok(
    config: object, resolver: dns.resolver.Resolver, domain: Domain, zone: Zone
) -> None:
    zone.set("example.com", "TXT", "v=spf1 a mx include:spf.postal.test ~all")
    # The published record without its trailing semicolon still matches (Postal normalises it).
    zone.set("postal-AbCdEf._domainkey.example.com", "TXT", dkim.dns_record(KEY).rstrip(";"))
    zone.set("example.com", "MX", "10 mx.google.example.")
    result = check(config, resolver, domain)
    assert result["spf"] == (DNSStatus.OK, None) and result["dkim"] == (DNSStatus.OK, None)
    assert result["mx"] == (DNSStatus.MISSING, "You have MX records but none of them point to us.")
    assert domain.dns_ok  # MX and return path may be left to the customer


def test_two_dkim_records_are_invalid(
    config: object, resolver: dns.resolver.Resolver, domain: Domain, zone: Zone
) -> None:
    name = dkim_record_name(config, domain)  # type: ignore[arg-type]
    zone.set(name, "TXT", dkim.dns_record(KEY), "v=DKIM1; p=other")
    assert check(config, resolver, domain)["dkim"] == (
        DNSStatus.INVALID,
        f"There are 2 records for at {name}. There should only be one.",
    )


def test_verification_needs_the_exact_txt_record(
    config: object, resolver: dns.resolver.Resolver, domain: Domain, zone: Zone
) -> None:
    lookup = make_lookup(resolver)
    zone.set("example.com", "TXT", "postal-verification wrong")
    assert not verify_domain(config, lookup, domain) and domain.verified_at is None  # type: ignore[arg-type]
    zone.add("example.com", "TXT", "postal-verification tok123")
    assert verify_domain(config, lookup, domain) and domain.verified_at is not None  # type: ignore[arg-type]


@pytest.fixture
def authoritative(dns_server: DNSServer, zone: Zone) -> Iterator[DNSServer]:
    """The domain's own name server, on another loopback address and the same port."""
    server = DNSServer(host="127.0.0.2", port=dns_server.port).start()
    zone.set("example.com", "SOA", "ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300")
    zone.set("example.com", "NS", "ns1.example.com.")
    zone.set("ns1.example.com", "A", "127.0.0.2")
    yield server
    server.stop()


def test_checks_ask_the_domains_own_name_servers(
    config: object, resolver: dns.resolver.Resolver, domain: Domain, zone: Zone, authoritative: DNSServer
) -> None:
    # The configured resolver still has an old answer; the authoritative server has the new one.
    zone.add("example.com", "TXT", "postal-verification stale")
    authoritative.zone.set("example.com", "TXT", "postal-verification tok123")
    assert verify_domain(config, domain_lookup(config, resolver, "example.com"), domain)  # type: ignore[arg-type]

    local = build_config(
        {"postal": {"use_local_ns_for_domain_verification": True}, "dns": {"nameservers": ["127.0.0.1"]}},
        environ={},
    )
    domain.verified_at = None
    assert not verify_domain(config, domain_lookup(local, resolver, "example.com"), domain)  # type: ignore[arg-type]
