"""Deciding what a recipient given at RCPT time is (reference §5, DESIGN §6).

In Postal's order: a return-path address (a bounce candidate for the server whose token it
carries), a route address (`<route token>@<dns.route_domain>`), any address for an authenticated
client (outgoing mail), a route of a domain we receive for, else refused: never an open relay.
SMTP-IP credentials (`smtp_ip_credential`) let the caller authenticate a client by its address
and ask again.

These functions read the database; the SMTP server calls them in a thread. The common case of an
authenticated client sending out needs no database at all (`quick_outgoing`).
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.db import Database
from core.mail.address import domain_of, local_part
from core.tenancy.credentials import Authenticated, authenticated
from models.credential import Credential
from models.domain import Domain
from models.enums import CredentialType, MessageScope, RouteMode
from models.organization import Organization
from models.route import Route
from models.server import Server


class Refusal(enum.Enum):
    """Why a recipient is refused; the SMTP layer words it."""

    SUSPENDED = enum.auto()
    INVALID_SERVER_TOKEN = enum.auto()
    INVALID_ROUTE_TOKEN = enum.auto()
    ROUTE_REJECTS = enum.auto()


BOUNCE = "bounce"


@dataclass(frozen=True)
class Recipient:
    """An accepted recipient: `kind` is `outgoing`, `incoming` or `bounce`; `rcpt_to` is what the
    message stores (a route address is rewritten to the route's own address)."""

    kind: str
    server_id: int
    rcpt_to: str
    route_id: int | None = None


def split_tag(local: str) -> tuple[str, str | None]:
    """`name+tag` → (`name`, `tag`); the tag starts at the first `+` (reference §4.1)."""
    name, sep, tag = local.partition("+")
    return name, (tag if sep else None)


def is_return_path_domain(config: Config, domain: str) -> bool:
    return domain == config.dns.return_path_domain.lower() or domain.startswith(
        config.dns.custom_return_path_prefix.lower() + "."
    )


def is_route_domain(config: Config, domain: str) -> bool:
    return bool(config.dns.route_domain) and domain == config.dns.route_domain.lower()


def quick_outgoing(config: Config, address: str, auth: Authenticated | None) -> Recipient | Refusal | None:
    """The decision for an authenticated client sending to an ordinary address, made without the
    database; None when the database must be asked (`classify`)."""
    if auth is None:
        return None
    domain = domain_of(address)
    if is_return_path_domain(config, domain) or is_route_domain(config, domain):
        return None
    if auth.suspended:
        return Refusal.SUSPENDED
    return Recipient(MessageScope.OUTGOING.value, auth.server_id, address)


def classify(db: Database, config: Config, address: str, auth: Authenticated | None) -> Recipient | Refusal | None:
    """The decision for `address`; None means "authentication required"."""
    domain = domain_of(address)
    local = local_part(address)
    name, tag = split_tag(local)
    with db.reader.connect() as conn, Session(bind=conn) as session:
        if is_return_path_domain(config, domain):
            found = _server_by_token(session, name.lower())
            if found is None:
                return Refusal.INVALID_SERVER_TOKEN
            server, suspended = found
            if suspended:
                return Refusal.SUSPENDED
            return Recipient(BOUNCE, server.id, address)

        if is_route_domain(config, domain):
            row = session.execute(
                select(Route, Domain.name)
                .outerjoin(Domain, Domain.id == Route.domain_id)
                .where(Route.token == name.lower())
            ).first()
            if row is None:
                return Refusal.INVALID_ROUTE_TOKEN
            route, domain_name = row
            rewritten = f"{route.name}{'+' + tag if tag else ''}@{domain_name}" if domain_name else address
            return _route_recipient(session, route, rewritten)

        # Once authenticated, routes are not consulted (reference §5, step 3).
        quick = quick_outgoing(config, address, auth)
        if quick is not None:
            return quick

        matched = _matching_route(session, name.lower(), domain)
        if matched is not None:
            return _route_recipient(session, matched, address)
    return None


def _server_by_token(session: Session, token: str) -> tuple[Server, bool] | None:
    row = session.execute(
        select(Server, Organization.suspended_at)
        .join(Organization, Organization.id == Server.organization_id)
        .where(Server.token == token, Server.deleted_at.is_(None), Organization.deleted_at.is_(None))
    ).first()
    if row is None:
        return None
    server, org_suspended_at = row
    return server, server.suspended_at is not None or org_suspended_at is not None


def _matching_route(session: Session, name: str, domain: str) -> Route | None:
    """The route called `name` on a verified domain `domain`, else its `*` route (reference §4.1)."""
    for candidate in (name, "*"):
        route = session.scalar(
            select(Route)
            .join(Domain, Domain.id == Route.domain_id)
            .where(Route.name == candidate, Domain.name == domain, Domain.verified_at.is_not(None))
            .order_by(Route.id)
            .limit(1)
        )
        if route is not None:
            return route
    return None


def _route_recipient(session: Session, route: Route, rcpt_to: str) -> Recipient | Refusal:
    found = session.execute(
        select(Server, Organization.suspended_at)
        .join(Organization, Organization.id == Server.organization_id)
        .where(Server.id == route.server_id, Server.deleted_at.is_(None), Organization.deleted_at.is_(None))
    ).first()
    if found is None:
        return Refusal.INVALID_ROUTE_TOKEN
    server, org_suspended_at = found
    if server.suspended_at is not None or org_suspended_at is not None:
        return Refusal.SUSPENDED
    if route.mode == RouteMode.REJECT:
        return Refusal.ROUTE_REJECTS
    return Recipient(MessageScope.INCOMING.value, server.id, rcpt_to, route.id)


def smtp_ip_credential(db: Database, client_ip: str) -> Authenticated | None:
    """The SMTP-IP credential whose network holds `client_ip`, the most specific network first;
    IPv4 networks also match IPv4-mapped IPv6 clients (`::ffff:192.0.2.1`)."""
    try:
        address = ipaddress.ip_address(client_ip.split("%", 1)[0])
    except ValueError:
        return None
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    with db.reader.connect() as conn, Session(bind=conn) as session:
        rows = session.execute(
            select(Credential, Server, Organization)
            .join(Server, Server.id == Credential.server_id)
            .join(Organization, Organization.id == Server.organization_id)
            .where(
                Credential.type == CredentialType.SMTP_IP,
                Server.deleted_at.is_(None),
                Organization.deleted_at.is_(None),
            )
        ).all()
    best: tuple[int, Authenticated] | None = None
    for credential, server, org in rows:
        try:
            network = ipaddress.ip_network(credential.key, strict=False)
        except ValueError:
            continue
        if not any(c.version == network.version and c in network for c in candidates):
            continue
        if best is None or network.prefixlen > best[0]:
            best = (network.prefixlen, authenticated(credential, server, org))
    return best[1] if best is not None else None
