"""Domains: adding one to an organization or server, finding it, and the DNS records to publish."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.errors import NotFound, ValidationError
from core.mail import dkim
from core.tokens import dkim_identifier, verification_token
from models.base import utcnow
from models.domain import Domain
from models.enums import OwnerType, VerificationMethod
from models.organization import Organization
from models.server import Server

# Labels of letters, digits and inner hyphens, at least two labels (RFC 1123 host names).
DOMAIN_RE = re.compile(r"\A(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}\Z")


def normalise_domain_name(name: str) -> str:
    name = name.strip().lower().rstrip(".")
    if not DOMAIN_RE.match(name):
        raise ValidationError("domain", f"{name!r} is not a valid domain name")
    return name


def add_domain(
    session: Session,
    config: Config,
    owner: Organization | Server,
    name: str,
    verified: bool = False,
    verification_method: VerificationMethod = VerificationMethod.DNS,
) -> Domain:
    """A new domain of `owner`, verified later by a DNS record or an e-mailed code
    (`verification_method`), or at once when `verified`."""
    name = normalise_domain_name(name)
    owner_type = OwnerType.SERVER if isinstance(owner, Server) else OwnerType.ORGANIZATION
    exists = session.scalar(
        select(Domain.id).where(Domain.owner_type == owner_type, Domain.owner_id == owner.id, Domain.name == name)
    )
    if exists is not None:
        raise ValidationError("domain", f"{name} has already been added here")
    domain = Domain(
        name=name,
        owner_type=owner_type,
        owner_id=owner.id,
        server_id=owner.id if owner_type is OwnerType.SERVER else None,
        verification_method=verification_method,
        verification_token=verification_token(),
        dkim_private_key=dkim.generate_private_key(config.dns.dkim_key_size),
        dkim_identifier_string=dkim_identifier(),
        verified_at=utcnow() if verified else None,
    )
    session.add(domain)
    session.flush()
    return domain


def find_domains(session: Session, name: str) -> list[Domain]:
    return list(session.scalars(select(Domain).where(Domain.name == name.strip().lower().rstrip("."))))


def find_domain(session: Session, name: str, owner: Organization | Server | None = None) -> Domain:
    """The domain called `name`; `owner` picks one when several organizations or servers have it."""
    domains = find_domains(session, name)
    if owner is not None:
        owner_type = OwnerType.SERVER if isinstance(owner, Server) else OwnerType.ORGANIZATION
        domains = [d for d in domains if d.owner_type == owner_type and d.owner_id == owner.id]
    if not domains:
        raise NotFound("domain", name)
    if len(domains) > 1:
        raise ValidationError(
            "domain", f"{name} exists in {len(domains)} places; name the owner with --owner ORG[/SERVER]"
        )
    return domains[0]


def dkim_selector(config: Config, domain: Domain, pending: bool = False) -> str:
    identifier = domain.dkim_pending_identifier_string if pending else domain.dkim_identifier_string
    return f"{config.dns.dkim_identifier}-{identifier}"


def dkim_record_name(config: Config, domain: Domain, pending: bool = False) -> str:
    return f"{dkim_selector(config, domain, pending)}._domainkey.{domain.name}"


def rotate_dkim(config: Config, domain: Domain) -> None:
    """Start a key rotation: a new key and selector to publish. Mail stays signed with the current
    key until `postal domain check` finds the new record; then the new key takes over."""
    identifier = dkim_identifier()
    while identifier == domain.dkim_identifier_string:
        identifier = dkim_identifier()
    domain.dkim_pending_private_key = dkim.generate_private_key(config.dns.dkim_key_size)
    domain.dkim_pending_identifier_string = identifier


def return_path_name(config: Config, domain: Domain) -> str:
    return f"{config.dns.custom_return_path_prefix}.{domain.name}"


def verification_record(config: Config, domain: Domain) -> str:
    return f"{config.dns.domain_verify_prefix} {domain.verification_token}"


def spf_record(config: Config) -> str:
    return f"v=spf1 a mx include:{config.dns.spf_include} ~all"


@dataclass(frozen=True)
class DNSRecord:
    purpose: str
    type: str
    name: str
    value: str
    priority: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def dns_records(config: Config, domain: Domain) -> list[DNSRecord]:
    """Everything the domain's owner should publish, with fully qualified names (the
    verification record only for the DNS method: a domain verified by e-mail has none)."""
    records = []
    if domain.verification_method is VerificationMethod.DNS:
        records.append(DNSRecord("verification", "TXT", domain.name, verification_record(config, domain)))
    records += [
        DNSRecord("spf", "TXT", domain.name, spf_record(config)),
        DNSRecord("dkim", "TXT", dkim_record_name(config, domain), dkim.dns_record(domain.dkim_private_key)),
    ]
    if domain.dkim_pending_private_key:
        # During a rotation both records must be published.
        pending = dkim.dns_record(domain.dkim_pending_private_key)
        records.append(DNSRecord("dkim", "TXT", dkim_record_name(config, domain, pending=True), pending))
    records += [
        DNSRecord("return_path", "CNAME", return_path_name(config, domain), config.dns.return_path_domain),
    ]
    records += [DNSRecord("mx", "MX", domain.name, host, 10) for host in config.dns.mx_records]
    return records
