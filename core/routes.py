"""Incoming mail's destinations: endpoints (HTTP, SMTP, address) and the routes that use them.

The rules are Postal's (reference §2.1, §4.1): a route is `name@domain` on a verified domain of
the server or its organization, `*` for any name, or `__returnpath__` (no domain, HTTP endpoint
only) for return-path mail that is not a bounce of ours; additional endpoints only in Endpoint
mode, never an SMTP or address endpoint as an extra on a `*` route, never the same one twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationError
from core.tokens import route_token
from models.domain import Domain
from models.endpoint import AddressEndpoint, HTTPEndpoint, SMTPEndpoint
from models.enums import EndpointType, HTTPEncoding, HTTPFormat, OwnerType, RouteMode, SpamMode, SSLMode
from models.route import AdditionalRouteEndpoint, Route
from models.server import Server

RETURN_PATH_ROUTE = "__returnpath__"
ROUTE_NAME = re.compile(r"\A[a-z0-9\-.]*\Z")
HOSTNAME = re.compile(r"\A[a-z0-9.\-]+\Z")
ENDPOINT_MODELS: dict[EndpointType, type[HTTPEndpoint] | type[SMTPEndpoint] | type[AddressEndpoint]] = {
    EndpointType.HTTP: HTTPEndpoint,
    EndpointType.SMTP: SMTPEndpoint,
    EndpointType.ADDRESS: AddressEndpoint,
}
# How endpoints are named on the command line (`--endpoint http:UUID`).
ENDPOINT_KINDS = {"http": EndpointType.HTTP, "smtp": EndpointType.SMTP, "address": EndpointType.ADDRESS}

Endpoint = HTTPEndpoint | SMTPEndpoint | AddressEndpoint


def _choice(field: str, value: str, enum: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(field, f"must be one of {', '.join(e.value for e in enum)}, not {value!r}") from None


def endpoint_kind(endpoint: Endpoint) -> EndpointType:
    return next(kind for kind, model in ENDPOINT_MODELS.items() if isinstance(endpoint, model))


# -- endpoints ------------------------------------------------------------------------------------
# Each field is checked by one function, for creating and for changing an endpoint alike.


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("name", "can't be blank")
    return name


def _valid_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("url", f"must be an http:// or https:// URL, not {url!r}")
    return url


def _valid_timeout(timeout: int) -> int:
    if not 5 <= timeout <= 60:
        raise ValidationError("timeout", f"must be between 5 and 60 seconds, not {timeout}")
    return timeout


def _valid_hostname(hostname: str) -> str:
    hostname = hostname.strip().lower().rstrip(".")
    if not HOSTNAME.match(hostname):
        raise ValidationError("hostname", f"must be a host name (letters, digits, dots and dashes), not {hostname!r}")
    return hostname


def _valid_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValidationError("port", f"must be between 1 and 65535, not {port}")
    return port


def _valid_address(session: Session, server_id: int, address: str, endpoint_id: int | None = None) -> str:
    """An e-mail address that is not already an address endpoint of the server (but `endpoint_id`)."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValidationError("address", f"must be an e-mail address, not {address!r}")
    query = select(AddressEndpoint.id).where(AddressEndpoint.server_id == server_id, AddressEndpoint.address == address)
    if endpoint_id is not None:
        query = query.where(AddressEndpoint.id != endpoint_id)
    if session.scalar(query) is not None:
        raise ValidationError("address", f"{address} is already an endpoint of this server")
    return address


def create_http_endpoint(
    session: Session,
    server: Server,
    name: str,
    url: str,
    encoding: str = HTTPEncoding.BODY_AS_JSON.value,
    format: str = HTTPFormat.HASH.value,
    strip_replies: bool = False,
    include_attachments: bool = True,
    timeout: int = 5,
) -> HTTPEndpoint:
    endpoint = HTTPEndpoint(
        server_id=server.id,
        name=_valid_name(name),
        url=_valid_url(url),
        timeout=_valid_timeout(timeout),
        encoding=_choice("encoding", encoding, HTTPEncoding),
        format=_choice("format", format, HTTPFormat),
        strip_replies=strip_replies,
        include_attachments=include_attachments,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def create_smtp_endpoint(
    session: Session, server: Server, name: str, hostname: str, port: int = 25, ssl_mode: str = SSLMode.AUTO.value
) -> SMTPEndpoint:
    endpoint = SMTPEndpoint(
        server_id=server.id,
        name=_valid_name(name),
        hostname=_valid_hostname(hostname),
        port=_valid_port(port),
        ssl_mode=_choice("ssl_mode", ssl_mode, SSLMode),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def create_address_endpoint(session: Session, server: Server, address: str) -> AddressEndpoint:
    endpoint = AddressEndpoint(server_id=server.id, address=_valid_address(session, server.id, address))
    session.add(endpoint)
    session.flush()
    return endpoint


def find_endpoint(session: Session, server: Server, kind: EndpointType, ref: str) -> Endpoint:
    """The server's endpoint of `kind` with uuid (or id) `ref`."""
    model = ENDPOINT_MODELS[kind]
    condition = model.uuid == ref
    if ref.isdigit():
        condition = condition | (model.id == int(ref))
    found = cast(Endpoint | None, session.scalar(select(model).where(model.server_id == server.id, condition)))
    if found is None:
        raise NotFound(kind.value, ref)
    return found


def parse_endpoint_ref(text: str) -> tuple[EndpointType, str]:
    """`http:UUID`, `smtp:UUID` or `address:UUID` (as `--endpoint` takes them)."""
    kind, sep, ref = text.partition(":")
    if not sep or kind.lower() not in ENDPOINT_KINDS or not ref:
        raise ValidationError("endpoint", f"must be http:UUID, smtp:UUID or address:UUID, not {text!r}")
    return ENDPOINT_KINDS[kind.lower()], ref.strip()


def load_endpoint(session: Session, kind: str | EndpointType | None, endpoint_id: int | None) -> Endpoint | None:
    if kind is None or endpoint_id is None:
        return None
    try:
        model = ENDPOINT_MODELS[EndpointType(kind)]
    except ValueError:
        return None
    return cast(Endpoint | None, session.get(model, endpoint_id))


def delete_endpoint(session: Session, endpoint: Endpoint) -> None:
    """Remove an endpoint; routes that used it now reject mail, as in Postal."""
    kind = endpoint_kind(endpoint)
    session.execute(
        update(Route)
        .where(Route.endpoint_type == kind, Route.endpoint_id == endpoint.id)
        .values(mode=RouteMode.REJECT, endpoint_type=None, endpoint_id=None)
    )
    for extra in session.scalars(
        select(AdditionalRouteEndpoint).where(
            AdditionalRouteEndpoint.endpoint_type == kind, AdditionalRouteEndpoint.endpoint_id == endpoint.id
        )
    ):
        session.delete(extra)
    session.delete(endpoint)
    session.flush()


# -- routes ---------------------------------------------------------------------------------------


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
    route_mode: RouteMode = _choice("mode", mode, RouteMode)
    endpoints = list(endpoints or [])
    address = address.strip().lower()
    if address == RETURN_PATH_ROUTE or address.startswith(RETURN_PATH_ROUTE + "@"):
        name, domain = RETURN_PATH_ROUTE, None
    else:
        name, at, domain_name = address.rpartition("@")
        if not at or not domain_name:
            raise ValidationError("address", f"must be NAME@DOMAIN (or {RETURN_PATH_ROUTE}), not {address!r}")
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
        spam_mode=_choice("spam_mode", spam_mode, SpamMode),
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
    from core import presenters

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


def update_http_endpoint(
    session: Session,
    endpoint: HTTPEndpoint,
    name: str | None = None,
    url: str | None = None,
    encoding: str | None = None,
    format: str | None = None,
    strip_replies: bool | None = None,
    include_attachments: bool | None = None,
    timeout: int | None = None,
) -> HTTPEndpoint:
    if name is not None:
        endpoint.name = _valid_name(name)
    if url is not None:
        endpoint.url = _valid_url(url)
    if timeout is not None:
        endpoint.timeout = _valid_timeout(timeout)
    if encoding is not None:
        endpoint.encoding = _choice("encoding", encoding, HTTPEncoding)
    if format is not None:
        endpoint.format = _choice("format", format, HTTPFormat)
    if strip_replies is not None:
        endpoint.strip_replies = strip_replies
    if include_attachments is not None:
        endpoint.include_attachments = include_attachments
    session.flush()
    return endpoint


def update_smtp_endpoint(
    session: Session,
    endpoint: SMTPEndpoint,
    name: str | None = None,
    hostname: str | None = None,
    port: int | None = None,
    ssl_mode: str | None = None,
) -> SMTPEndpoint:
    if name is not None:
        endpoint.name = _valid_name(name)
    if hostname is not None:
        endpoint.hostname = _valid_hostname(hostname)
    if port is not None:
        endpoint.port = _valid_port(port)
    if ssl_mode is not None:
        endpoint.ssl_mode = _choice("ssl_mode", ssl_mode, SSLMode)
    session.flush()
    return endpoint


def update_address_endpoint(session: Session, endpoint: AddressEndpoint, address: str) -> AddressEndpoint:
    endpoint.address = _valid_address(session, endpoint.server_id, address, endpoint.id)
    session.flush()
    return endpoint


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
    route_mode: RouteMode = _choice("mode", mode, RouteMode) if mode is not None else route.mode
    if endpoints is None:
        endpoints = route_endpoints(session, route) if route_mode is RouteMode.ENDPOINT else []
    kinds = _checked_endpoints(route.server_id, route.name, route_mode, endpoints)
    route.mode = route_mode
    if spam_mode is not None:
        route.spam_mode = _choice("spam_mode", spam_mode, SpamMode)
    _set_endpoints(session, route, kinds, endpoints)
    return route
