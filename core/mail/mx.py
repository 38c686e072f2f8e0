"""Where mail for a domain goes: configured relays, else MX hosts by preference, else the domain itself."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from itertools import groupby

import dns.exception
import dns.resolver

from core.config import SMTPRelay


class NullMX(Exception):
    """The domain publishes `MX 0 .`: it accepts no mail at all (RFC 7505)."""


class DNSTimeout(Exception):
    """The lookup did not complete; the delivery should be retried later."""


@dataclass
class MailHost:
    """One host to try, with its addresses in the order to try them (IPv6 first, as Postal)."""

    hostname: str
    port: int
    ssl_mode: str = "Auto"
    addresses: list[str] = field(default_factory=list)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def mx_hostnames(resolver: dns.resolver.Resolver, domain: str, rng: random.Random | None = None) -> list[str]:
    """MX host names by preference, ties shuffled; the domain itself when it has no MX (RFC 5321 §5.1)."""
    rng = rng or random.Random()
    try:
        answer = resolver.resolve(domain, "MX", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return [domain]
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
        raise DNSTimeout(f"MX lookup for {domain} failed: {exc}") from exc
    records = sorted((r.preference, r.exchange.to_text(omit_final_dot=True).lower()) for r in answer)
    if not records:
        return [domain]
    if len(records) == 1 and records[0][1] in ("", "."):
        raise NullMX(domain)
    hosts: list[str] = []
    for _, group in groupby(records, key=lambda r: r[0]):
        names = [name for _, name in group if name not in ("", ".")]
        rng.shuffle(names)
        hosts.extend(names)
    return hosts


def host_addresses(resolver: dns.resolver.Resolver, hostname: str, want_ipv6: bool = True) -> list[str]:
    """AAAA records then A records of `hostname` (every address, not only the first)."""
    if _is_ip(hostname):
        return [hostname]
    found: list[str] = []
    for rdtype in ("AAAA", "A") if want_ipv6 else ("A",):
        try:
            answer = resolver.resolve(hostname, rdtype, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout):
            continue
        found.extend(r.to_text() for r in answer)
    return found


def mail_hosts(
    resolver: dns.resolver.Resolver,
    domain: str,
    relays: list[SMTPRelay],
    destination_port: int,
) -> list[MailHost]:
    """The hosts to try for `domain`, with addresses resolved lazily by the caller."""
    if relays:
        return [MailHost(r.host, r.port, r.ssl_mode) for r in relays]
    return [MailHost(name, destination_port, "Auto") for name in mx_hostnames(resolver, domain)]
