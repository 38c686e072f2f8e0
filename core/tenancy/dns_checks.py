"""Domain ownership verification and the SPF, DKIM, MX and return-path checks (Postal's rules)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from core.config import Config
from core.mail import dkim
from core.mail.mx import host_addresses
from core.tenancy.domains import dkim_record_name, return_path_name, verification_record
from models.base import utcnow
from models.domain import Domain
from models.enums import DNSStatus

log = logging.getLogger(__name__)

Lookup = Callable[[str, str], list[str]]


def authoritative_resolver(resolver: dns.resolver.Resolver, domain: str) -> dns.resolver.Resolver | None:
    """A resolver that asks the domain's own name servers, so a check sees records the moment
    they are published rather than what a recursive resolver still has cached (Postal's rule).
    None when the servers cannot be found."""
    try:
        zone = dns.resolver.zone_for_name(domain, resolver=resolver)
        names = [r.target.to_text() for r in resolver.resolve(zone, "NS")]
    except dns.exception.DNSException as exc:
        log.debug("no authoritative servers found for %s: %s", domain, exc)
        return None
    addresses: list[str] = []
    for name in names:
        addresses.extend(host_addresses(resolver, name))
    if not addresses:
        return None
    authoritative = dns.resolver.Resolver(configure=False)
    authoritative.nameservers = addresses
    authoritative.port = resolver.port
    authoritative.timeout = resolver.timeout
    authoritative.lifetime = resolver.lifetime
    authoritative.cache = None
    return authoritative


def domain_lookup(config: Config, resolver: dns.resolver.Resolver, domain: str) -> Lookup:
    """The lookup for checking `domain`: its authoritative servers unless
    `postal.use_local_ns_for_domain_verification` asks for the configured resolver."""
    if not config.postal.use_local_ns_for_domain_verification:
        authoritative = authoritative_resolver(resolver, domain)
        if authoritative is not None:
            return make_lookup(authoritative)
    return make_lookup(resolver)


def make_lookup(resolver: dns.resolver.Resolver) -> Lookup:
    """`lookup(name, type)` → record texts; an empty list when there are none or DNS fails."""

    def lookup(name: str, rdtype: str) -> list[str]:
        try:
            answer = resolver.resolve(name, rdtype, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
            log.debug("DNS %s %s: %s", rdtype, name, exc)
            return []
        values = []
        for rdata in answer:
            if rdata.rdtype == dns.rdatatype.TXT:
                values.append(b"".join(rdata.strings).decode(errors="replace"))
            elif rdata.rdtype == dns.rdatatype.MX:
                values.append(rdata.exchange.to_text(omit_final_dot=True).lower())
            elif rdata.rdtype == dns.rdatatype.CNAME:
                values.append(rdata.target.to_text(omit_final_dot=True).lower())
            else:
                values.append(rdata.to_text())
        return values

    return lookup


def verify_domain(config: Config, lookup: Lookup, domain: Domain) -> bool:
    """Mark the domain verified if its apex has the `<prefix> <token>` TXT record."""
    if domain.verified_at is not None:
        return True
    if verification_record(config, domain) in lookup(domain.name, "TXT"):
        domain.verified_at = utcnow()
        return True
    return False


def _sentence(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def check_spf(config: Config, lookup: Lookup, domain: Domain) -> None:
    records = [r for r in lookup(domain.name, "TXT") if r.startswith("v=spf1")]
    include = f"include:{config.dns.spf_include}"
    if not records:
        domain.spf_status, domain.spf_error = DNSStatus.MISSING, "No SPF record exists for this domain"
    elif not any(include in r.replace("include: ", "include:") for r in records):
        domain.spf_status = DNSStatus.INVALID
        domain.spf_error = f"An SPF record exists but it doesn't include {config.dns.spf_include}"
    else:
        domain.spf_status, domain.spf_error = DNSStatus.OK, None


def check_dkim(config: Config, lookup: Lookup, domain: Domain) -> None:
    """The DKIM record; during a rotation, the new record first: once it is published the new key
    replaces the old one (the old record can then be removed)."""
    if domain.dkim_pending_private_key:
        records = lookup(dkim_record_name(config, domain, pending=True), "TXT")
        expected = dkim.dns_record(domain.dkim_pending_private_key)
        if len(records) == 1 and _with_semicolon(records[0]) == expected:
            domain.dkim_private_key = domain.dkim_pending_private_key
            domain.dkim_identifier_string = domain.dkim_pending_identifier_string or domain.dkim_identifier_string
            domain.dkim_pending_private_key = None
            domain.dkim_pending_identifier_string = None
    name = dkim_record_name(config, domain)
    records = lookup(name, "TXT")
    if not records:
        domain.dkim_status, domain.dkim_error = DNSStatus.MISSING, f"No TXT records were returned for {name}"
        return
    first = _with_semicolon(records[0])
    if len(records) > 1:
        domain.dkim_status = DNSStatus.INVALID
        domain.dkim_error = f"There are {len(records)} records for at {name}. There should only be one."
    elif first != dkim.dns_record(domain.dkim_private_key):
        domain.dkim_status = DNSStatus.INVALID
        domain.dkim_error = (
            f"The DKIM record at {name} does not match the record we have provided. "
            "Please check it has been copied correctly."
        )
    else:
        domain.dkim_status, domain.dkim_error = DNSStatus.OK, None


def _with_semicolon(record: str) -> str:
    """Postal compares the record with a trailing `;` whether or not it was published with one."""
    record = record.strip()
    return record if record.endswith(";") else record + ";"


def check_mx(config: Config, lookup: Lookup, domain: Domain) -> None:
    records = lookup(domain.name, "MX")
    expected = [m.lower() for m in config.dns.mx_records]
    if not records:
        domain.mx_status, domain.mx_error = DNSStatus.MISSING, f"There are no MX records for {domain.name}"
        return
    missing = [m for m in expected if m not in records]
    if not missing:
        domain.mx_status, domain.mx_error = DNSStatus.OK, None
    elif len(missing) == len(expected):
        domain.mx_status, domain.mx_error = (
            DNSStatus.MISSING,
            "You have MX records but none of them point to us.",
        )
    else:
        noun = "record" if len(missing) == 1 else "records"
        domain.mx_status = DNSStatus.INVALID
        domain.mx_error = f"MX {noun} for {_sentence(missing)} are missing and are required."


def check_cname(lookup: Lookup, name: str, expected: str, missing: str) -> tuple[DNSStatus, str | None]:
    """Whether `name` is a CNAME to `expected` (nothing else): the status and Postal's error text;
    `missing` is the text when there is no CNAME at all."""
    records = lookup(name, "CNAME")
    if not records:
        return DNSStatus.MISSING, missing
    if len(records) == 1 and records[0] == expected:
        return DNSStatus.OK, None
    return DNSStatus.INVALID, (
        f"There is a CNAME record at {name} but it points to {records[0]} which is incorrect. "
        f"It should point to {expected}."
    )


def check_return_path(config: Config, lookup: Lookup, domain: Domain) -> None:
    name = return_path_name(config, domain)
    domain.return_path_status, domain.return_path_error = check_cname(
        lookup, name, config.dns.return_path_domain.lower(), f"There is no return path record at {name}"
    )


def check_domain(config: Config, lookup: Lookup, domain: Domain) -> bool:
    """Run the four checks, store each status and the check time; True when DNS is all right."""
    check_spf(config, lookup, domain)
    check_dkim(config, lookup, domain)
    check_mx(config, lookup, domain)
    check_return_path(config, lookup, domain)
    domain.dns_checked_at = utcnow()
    return domain.dns_ok
