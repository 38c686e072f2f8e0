"""Track domains of a server (reference §2.1, §3.5): a subdomain of one of its verified domains,
a CNAME to `dns.track_domain`, through which links and open-tracking images are served."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from core.config import Config
from core.errors import NotFound, ValidationError
from core.tenancy.dns_checks import Lookup, check_cname
from core.tenancy.domains import normalise_domain_name
from models.base import utcnow
from models.domain import Domain
from models.enums import DNSStatus, OwnerType
from models.server import Server
from models.track_domain import TrackDomain

# The column is VARCHAR(255); a long name must not make the check fail.
MAX_ERROR_LENGTH = 255
# Postal stores the first label only (`track`); the full name is `<name>.<domain>`.
LABEL_RE = re.compile(r"\A[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")


def full_name(track_domain: TrackDomain, domain: Domain) -> str:
    return f"{track_domain.name}.{domain.name}"


def _owned_by_server(server: Server) -> ColumnElement[bool]:
    """Domains the server may use: its own and its organization's (as routes and senders)."""
    return or_(
        (Domain.owner_type == OwnerType.SERVER) & (Domain.owner_id == server.id),
        (Domain.owner_type == OwnerType.ORGANIZATION) & (Domain.owner_id == server.organization_id),
    )


def _parent_domain(session: Session, server: Server, name: str) -> tuple[str, Domain]:
    """The first label of `name` and the verified domain of the server it belongs to."""
    try:
        name = normalise_domain_name(name)
    except ValidationError as exc:
        raise ValidationError("name", exc.message) from None
    label, _, parent = name.partition(".")
    candidates = list(
        session.scalars(select(Domain).where(Domain.name == parent, _owned_by_server(server)).order_by(Domain.id))
    )
    verified = [d for d in candidates if d.verified]
    # A server's own domain comes before its organization's of the same name.
    verified.sort(key=lambda d: d.owner_type is not OwnerType.SERVER)
    if not verified or not LABEL_RE.match(label):
        raise ValidationError(
            "name", f"{name} is not a subdomain of a verified domain of this server or its organization"
        )
    return label, verified[0]


def add_track_domain(
    session: Session,
    server: Server,
    name: str,
    ssl_enabled: bool = True,
    track_clicks: bool = True,
    track_loads: bool = True,
    excluded_click_domains: Iterable[str] = (),
) -> TrackDomain:
    """A track domain `name` (e.g. `track.example.com`); one per domain of the server, as in Postal."""
    label, domain = _parent_domain(session, server, name)
    taken = session.scalar(
        select(TrackDomain.id).where(TrackDomain.server_id == server.id, TrackDomain.domain_id == domain.id)
    )
    if taken is not None:
        raise ValidationError("name", f"{domain.name} already has a track domain on this server")
    track_domain = TrackDomain(
        server_id=server.id,
        domain_id=domain.id,
        name=label,
        ssl_enabled=ssl_enabled,
        track_clicks=track_clicks,
        track_loads=track_loads,
        excluded_click_domains=_excluded(excluded_click_domains),
    )
    session.add(track_domain)
    session.flush()
    return track_domain


def _excluded(names: Iterable[str]) -> str | None:
    """Host names whose links are left alone, stored newline-separated as Postal does."""
    hosts = []
    for name in names:
        try:
            hosts.append(normalise_domain_name(name))
        except ValidationError as exc:
            raise ValidationError("excluded_click_domains", exc.message) from None
    return "\n".join(dict.fromkeys(hosts)) or None


def excluded_click_domains(track_domain: TrackDomain) -> list[str]:
    return [line.strip() for line in (track_domain.excluded_click_domains or "").splitlines() if line.strip()]


def update_track_domain(
    track_domain: TrackDomain,
    *,
    ssl_enabled: bool | None = None,
    track_clicks: bool | None = None,
    track_loads: bool | None = None,
    excluded_click_domains: Iterable[str] | None = None,
) -> TrackDomain:
    """Change what is given (None keeps the current value); the name stays (it is in sent links)."""
    if ssl_enabled is not None:
        track_domain.ssl_enabled = ssl_enabled
    if track_clicks is not None:
        track_domain.track_clicks = track_clicks
    if track_loads is not None:
        track_domain.track_loads = track_loads
    if excluded_click_domains is not None:
        track_domain.excluded_click_domains = _excluded(excluded_click_domains)
    return track_domain


def track_domains_of(server: Server) -> Select[TrackDomain]:
    """The server's track domains, as a query (lists are paginated by the caller)."""
    return select(TrackDomain).where(TrackDomain.server_id == server.id)


def find_track_domain(session: Session, server: Server, uuid: str) -> TrackDomain:
    track_domain = session.scalar(track_domains_of(server).where(TrackDomain.uuid == uuid))
    if track_domain is None:
        raise NotFound("track domain", uuid)
    return track_domain


def domain_of(session: Session, track_domain: TrackDomain) -> Domain:
    domain = session.get(Domain, track_domain.domain_id)
    assert domain is not None  # the foreign key cascades: no track domain outlives its domain
    return domain


def delete_track_domain(session: Session, track_domain: TrackDomain) -> None:
    session.delete(track_domain)
    session.flush()


def check_track_domain(config: Config, lookup: Lookup, track_domain: TrackDomain, domain: Domain) -> bool:
    """Postal's check: the full name must be a CNAME to `dns.track_domain`; stores the status,
    the error and the check time. True when it is OK (Postal tracks mail only then, §3.5)."""
    name = full_name(track_domain, domain)
    expected = config.dns.track_domain.lower().rstrip(".")
    status, error = check_cname(lookup, name, expected, f"There is no CNAME record at {name}")
    track_domain.dns_status = status
    track_domain.dns_error = error[:MAX_ERROR_LENGTH] if error is not None else None
    track_domain.dns_checked_at = utcnow()
    return track_domain.dns_status is DNSStatus.OK
