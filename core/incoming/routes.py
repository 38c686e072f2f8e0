"""Routes of incoming mail: which address goes to which endpoints, in which mode.

The rules are Postal's (reference §2.1, §4.1): a route is `name@domain` on a verified domain of
the server or its organization, `*` for any name, or `__returnpath__` (no domain, HTTP endpoint
only) for return-path mail that is not a bounce of ours; additional endpoints only in Endpoint
mode, never an SMTP or address endpoint as an extra on a `*` route, never the same one twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import presenters
from core.errors import NotFound, ValidationError
from core.incoming.endpoints import load_endpoint, parse_choice
from core.tokens import route_token
from models.domain import Domain
from models.endpoint import Endpoint, endpoint_kind
from models.enums import EndpointType, OwnerType, RouteMode, SpamMode
from models.route import AdditionalRouteEndpoint, Route
from models.server import Server

RETURN_PATH_ROUTE = "__returnpath__"
ROUTE_NAME = re.compile(r"\A[a-z0-9\-.]*\Z")


def _route_domain(session: Session, server: Server, name: str) -> Domain:
    """The verified domain `name` of the server, else of its organization."""
    name = name.strip().lower().rstrip(".")
    candidates = session.scalars(
        select(Domain).where(
            Domain.name == name,
            ((Domain.owner_type == OwnerType.SERVER) & (Domain.owner_id == server.id))
            | ((Domain.owner_type == OwnerType.ORGANIZATION) & (Domain.owner_id == server.organization_id)),
        )
    ).all()
    if not candidates:
        raise ValidationError("domain", f"{name} is not a domain of this server or its organization")
    candidates = sorted(candidates, key=lambda d: d.owner_type != OwnerType.SERVER)
    verified = [d for d in candidates if d.verified_at is not None]
    if not verified:
        raise ValidationError("domain", f"{name} has not been verified")
    return verified[0]


def create_route(
    session: Session,
    server: Server,
    address: str,
    mode: str = RouteMode.ENDPOINT.value,
    endpoints: list[Endpoint] | None = None,
    spam_mode: str = SpamMode.MARK.value,
) -> Route:
    """A route for `name@domain` (or `__returnpath__`); the first endpoint is the route's own,
    the others are additional endpoints."""
    route_mode: RouteMode = parse_choice("mode", mode, RouteMode)
    endpoints = list(endpoints or [])
    address = address.strip().lower()
    if address == RETURN_PATH_ROUTE or address.startswith(RETURN_PATH_ROUTE + "@"):
        name, domain = RETURN_PATH_ROUTE, None
    else:
        name, at, domain_name = address.rpartition("@")
        if not at or not domain_name:
            raise ValidationError("address", f"must be NAME@DOMAIN (or {RETURN_PATH_ROUTE}), not {address!r}")
        if not name:
            raise ValidationError("name", "can't be blank")
        if name != "*" and not ROUTE_NAME.match(name):
            raise ValidationError("name", f"may only hold letters, digits, dots and dashes, or be *, not {name!r}")
        if "+" in name:
            raise ValidationError("name", "can't contain +")
        domain = _route_domain(session, server, domain_name)
    kinds = _checked_endpoints(server.id, name, route_mode, endpoints)
    if name == RETURN_PATH_ROUTE:
        taken = session.scalar(select(Route.id).where(Route.server_id == server.id, Route.name == RETURN_PATH_ROUTE))
        if taken is not None:
            raise ValidationError("name", f"this server already has a {RETURN_PATH_ROUTE} route")
    if domain is not None:
        taken = session.scalar(select(Route.id).where(Route.domain_id == domain.id, Route.name == name))
        if taken is not None:
            raise ValidationError("name", f"{name}@{domain.name} already has a route")
    token = route_token()
    while session.scalar(select(Route.id).where(Route.token == token)) is not None:
        token = route_token()
    route = Route(
        server_id=server.id,
        domain_id=domain.id if domain is not None else None,
        name=name,
        mode=route_mode,
        spam_mode=parse_choice("spam_mode", spam_mode, SpamMode),
        token=token,
    )
    session.add(route)
    session.flush()
    _set_endpoints(session, route, kinds, endpoints)
    return route


def _checked_endpoints(server_id: int, name: str, mode: RouteMode, endpoints: list[Endpoint]) -> list[EndpointType]:
    """Postal's rules for the endpoints of a route called `name` in `mode`; their kinds."""
    for endpoint in endpoints:
        if endpoint.server_id != server_id:
            raise ValidationError("endpoint", "belongs to another server")
    kinds = [endpoint_kind(e) for e in endpoints]
    if mode is RouteMode.ENDPOINT and not endpoints:
        raise ValidationError("endpoint", "is required when the mode is Endpoint")
    if mode is not RouteMode.ENDPOINT and endpoints:
        raise ValidationError("endpoint", f"can only be given in Endpoint mode, not {mode.value}")
    if len({(k, e.id) for k, e in zip(kinds, endpoints, strict=True)}) != len(endpoints):
        raise ValidationError("endpoint", "is listed twice")
    if name == RETURN_PATH_ROUTE and kinds and kinds[0] is not EndpointType.HTTP:
        raise ValidationError("endpoint", f"of the {RETURN_PATH_ROUTE} route must be an HTTP endpoint")
    if name == "*" and any(k is not EndpointType.HTTP for k in kinds[1:]):
        raise ValidationError("endpoint", "additional endpoints of a * route must be HTTP endpoints")
    return kinds


def _set_endpoints(session: Session, route: Route, kinds: list[EndpointType], endpoints: list[Endpoint]) -> None:
    """The first endpoint becomes the route's own, the others its additional endpoints."""
    route.endpoint_type = kinds[0] if kinds else None
    route.endpoint_id = endpoints[0].id if endpoints else None
    for extra in session.scalars(select(AdditionalRouteEndpoint).where(AdditionalRouteEndpoint.route_id == route.id)):
        session.delete(extra)
    session.flush()
    for kind, endpoint in zip(kinds[1:], endpoints[1:], strict=True):
        session.add(AdditionalRouteEndpoint(route_id=route.id, endpoint_type=kind, endpoint_id=endpoint.id))
    session.flush()


def find_route(session: Session, server: Server, ref: str) -> Route:
    """The server's route by uuid, id or `name@domain`."""
    condition = Route.uuid == ref
    if ref.isdigit():
        condition = condition | (Route.id == int(ref))
    route = session.scalar(select(Route).where(Route.server_id == server.id, condition))
    if route is None and "@" in ref:
        name, _, domain_name = ref.lower().rpartition("@")
        route = session.scalar(
            select(Route)
            .join(Domain, Domain.id == Route.domain_id)
            .where(Route.server_id == server.id, Route.name == name, Domain.name == domain_name)
        )
    if route is None and ref == RETURN_PATH_ROUTE:
        route = session.scalar(select(Route).where(Route.server_id == server.id, Route.name == RETURN_PATH_ROUTE))
    if route is None:
        raise NotFound("route", ref)
    return route


def delete_route(session: Session, route: Route) -> None:
    session.delete(route)
    session.flush()


@dataclass(frozen=True)
class RouteTarget:
    """Where one message of a route goes: the route's endpoint or one of its additional ones."""

    endpoint_type: EndpointType | None
    endpoint_id: int | None


def route_targets(session: Session, route: Route) -> list[RouteTarget]:
    """One target per message to create (reference §4.1: one message per endpoint)."""
    targets = [RouteTarget(route.endpoint_type, route.endpoint_id)]
    if route.mode == RouteMode.ENDPOINT:
        extras = session.scalars(
            select(AdditionalRouteEndpoint)
            .where(AdditionalRouteEndpoint.route_id == route.id)
            .order_by(AdditionalRouteEndpoint.id)
        ).all()
        targets += [RouteTarget(e.endpoint_type, e.endpoint_id) for e in extras]
    return targets


def route_data(session: Session, route: Route, route_domain: str) -> dict[str, Any]:
    """A route as the CLI and the API show it (`core.presenters.route`)."""
    domain = session.get(Domain, route.domain_id) if route.domain_id is not None else None
    extras = session.scalars(
        select(AdditionalRouteEndpoint)
        .where(AdditionalRouteEndpoint.route_id == route.id)
        .order_by(AdditionalRouteEndpoint.id)
    ).all()
    additional = [{"type": e.endpoint_type.value, "id": e.endpoint_id} for e in extras]
    return presenters.route(route, domain.name if domain else None, route_domain, additional)


def route_description(route: Route, domain: Domain | None) -> str:
    """`name@domain`, as Postal shows a route (and uses it as the From of its bounces)."""
    return f"{route.name}@{domain.name}" if domain is not None else route.name


# -- changes --------------------------------------------------------------------------------------
# The same rules as the create functions above, for the fields that are given (None: unchanged).


def route_endpoints(session: Session, route: Route) -> list[Endpoint]:
    """The route's own endpoint, then its additional ones (those that still exist)."""
    found = [load_endpoint(session, t.endpoint_type, t.endpoint_id) for t in route_targets(session, route)]
    return [e for e in found if e is not None]


def update_route(
    session: Session,
    route: Route,
    mode: str | None = None,
    spam_mode: str | None = None,
    endpoints: list[Endpoint] | None = None,
) -> Route:
    """Change the mode, spam mode or endpoints of a route; its address stays. Leaving Endpoint
    mode drops the endpoints; entering it without `endpoints` keeps the ones the route has."""
    route_mode: RouteMode = parse_choice("mode", mode, RouteMode) if mode is not None else route.mode
    if endpoints is None:
        endpoints = route_endpoints(session, route) if route_mode is RouteMode.ENDPOINT else []
    kinds = _checked_endpoints(route.server_id, route.name, route_mode, endpoints)
    route.mode = route_mode
    if spam_mode is not None:
        route.spam_mode = parse_choice("spam_mode", spam_mode, SpamMode)
    _set_endpoints(session, route, kinds, endpoints)
    return route
