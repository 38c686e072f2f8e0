"""`/organizations/{org}/servers/{server}/routes`: which incoming addresses go to which endpoints.

Endpoints are named by their `ref` (`http:UUID`, `smtp:UUID`, `address:UUID`); the first is the
route's own, the others are additional endpoints (reference §4.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from core import presenters
from core.errors import NotFound, ValidationError
from core.incoming.endpoints import find_endpoint, parse_endpoint_ref
from core.incoming.routes import create_route, delete_route, find_route, route_data, route_endpoints, update_route
from models.endpoint import Endpoint
from models.enums import EndpointType, RouteMode, SpamMode
from models.route import Route
from models.server import Server
from web.api_v2.call import Call
from web.api_v2.endpoints import path_ref, usable_ref
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, enum, integer, nullable, obj, ref, string

ops = Operations("routes")
BASE = "/organizations/{org}/servers/{server}/routes"
ITEM = BASE + "/{uuid}"
MODES = enum(*(m.value for m in RouteMode))
SPAM_MODES = enum(*(m.value for m in SpamMode))
ENDPOINT_REFS = {
    **array(string(min_length=1, max_length=80), max_items=50),
    "description": "Endpoint refs (`http:UUID`, `smtp:UUID`, `address:UUID`); the first is the route's own.",
}
TARGET = obj({"type": enum(*(t.value for t in EndpointType)), "id": integer()}, required=("type", "id"))
SCHEMAS = {
    "Route": obj(
        {
            "id": integer(),
            "uuid": string(),
            "server_id": integer(),
            "name": string(),
            "domain": nullable(string()),
            "address": string(),
            "route_address": nullable(string()),
            "mode": MODES,
            "spam_mode": SPAM_MODES,
            "endpoint": nullable(TARGET),
            "additional_endpoints": array(TARGET),
            "endpoints": array(string()),
            "token": string(),
        },
        required=("id", "uuid", "name", "domain", "address", "mode", "spam_mode", "endpoints"),
    )
}
ROUTE = ref("Route")
T = TypeVar("T")


def _present(call: Call, route: Route) -> dict[str, Any]:
    session = call.session
    data = route_data(session, route, call.runtime.config.dns.route_domain)
    data["endpoints"] = [presenters.endpoint(e)["ref"] for e in route_endpoints(session, route)]
    return data


def _endpoints(call: Call, server: Server) -> list[Endpoint] | None:
    """The endpoints named in the body (None when it names none); an unknown one is a bad value,
    not a missing page."""
    if "endpoints" not in call.body:
        return None
    found = []
    for text in call.body["endpoints"]:
        try:
            kind, uuid = parse_endpoint_ref(text)
            if not usable_ref(uuid):
                raise NotFound(kind.value, uuid)
            found.append(find_endpoint(call.session, server, kind, uuid))
        except (NotFound, ValidationError):
            raise ValidationError("endpoints", f"{text!r} is not an endpoint of this server (http:UUID…)") from None
    return found


def _as_body_fields(work: Callable[[], T]) -> T:
    """The use-cases name the endpoints `endpoint` (as the CLI's `--endpoint`); the body says `endpoints`."""
    try:
        return work()
    except ValidationError as exc:
        if exc.field == "endpoint":
            raise ValidationError("endpoints", exc.message) from None
        raise


def _route(call: Call) -> Route:
    return find_route(call.session, call.server(), path_ref(call, "route"))


@ops.get(BASE, "List routes", response=ROUTE, paginated=True)
def list_routes(call: Call) -> dict[str, Any]:
    server = call.server()
    query = select(Route).where(Route.server_id == server.id)
    return paginate(call.session, query, Route.id, call.limit, call.cursor, lambda r: _present(call, r))


@ops.post(
    BASE,
    "Create a route",
    status=201,
    response=ROUTE,
    body=obj(
        {
            "address": {
                **string(min_length=1),
                "description": "`name@domain` on a verified domain of the server or its organization, "
                "`*@domain`, or `__returnpath__`.",
            },
            "mode": MODES,
            "spam_mode": SPAM_MODES,
            "endpoints": ENDPOINT_REFS,
        },
        required=("address",),
    ),
    description="Endpoint mode (the default) needs at least one endpoint; other modes take none.",
)
def add_route(call: Call) -> dict[str, Any]:
    server = call.server()
    endpoints = _endpoints(call, server) or []
    route = _as_body_fields(
        lambda: create_route(
            call.session,
            server,
            call.body["address"],
            call.field("mode", RouteMode.ENDPOINT.value),
            endpoints,
            call.field("spam_mode", SpamMode.MARK.value),
        )
    )
    call.runtime.servers.forget(server.id)
    return _present(call, route)


@ops.get(ITEM, "Get a route", response=ROUTE)
def get_route(call: Call) -> dict[str, Any]:
    return _present(call, _route(call))


@ops.patch(
    ITEM,
    "Change a route's mode, spam mode or endpoints",
    response=ROUTE,
    body=obj({"mode": MODES, "spam_mode": SPAM_MODES, "endpoints": ENDPOINT_REFS}),
    operation_id="update_route",
    description="The address stays. Leaving Endpoint mode drops the endpoints; entering it without "
    "`endpoints` keeps the ones the route had.",
)
def change_route(call: Call) -> dict[str, Any]:
    route = _route(call)
    server = call.server()
    endpoints = _endpoints(call, server)
    _as_body_fields(lambda: update_route(call.session, route, call.field("mode"), call.field("spam_mode"), endpoints))
    call.runtime.servers.forget(server.id)
    return _present(call, route)


@ops.delete(ITEM, "Delete a route")
def remove_route(call: Call) -> None:
    route = _route(call)
    delete_route(call.session, route)
    call.runtime.servers.forget(route.server_id)
