"""`/organizations/{org}/servers/{server}/track-domains`: the host names through which a server's
links and open-tracking images are served, and their DNS check."""

from __future__ import annotations

from typing import Any

from core import presenters
from core.dns import make_resolver
from core.tenancy.dns_checks import domain_lookup
from core.tenancy.track_domains import (
    add_track_domain,
    check_track_domain,
    delete_track_domain,
    domain_of,
    find_track_domain,
    full_name,
    track_domains_of,
    update_track_domain,
)
from models.domain import Domain
from models.track_domain import TrackDomain
from web.api_v2.call import Call
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, enum, integer, nullable, obj, ref, string

ops = Operations("track-domains")
BASE = "/organizations/{org}/servers/{server}/track-domains"
ITEM = BASE + "/{uuid}"
HOSTS = array(string(min_length=1), max_items=1000)
SCHEMAS = {
    "TrackDomain": obj(
        {
            "id": integer(),
            "uuid": string(),
            "server_id": integer(),
            "name": string(),
            "domain": string(),
            "domain_uuid": string(),
            "ssl_enabled": boolean(),
            "track_clicks": boolean(),
            "track_loads": boolean(),
            "excluded_click_domains": array(string()),
            "dns_status": nullable(enum("OK", "Missing", "Invalid")),
            "dns_error": nullable(string()),
            "dns_checked_at": nullable(string()),
            "cname_target": string(),
            "created_at": nullable(string()),
        },
        required=("id", "uuid", "name", "domain", "ssl_enabled", "track_clicks", "track_loads", "dns_status"),
    )
}
TRACK_DOMAIN = ref("TrackDomain")
SETTINGS = {
    "ssl_enabled": boolean(),
    "track_clicks": boolean(),
    "track_loads": boolean(),
    "excluded_click_domains": HOSTS,
}


def _present(call: Call, track_domain: TrackDomain, domain: Domain | None = None) -> dict[str, Any]:
    """With `cname_target`: the host name its CNAME must point at (`dns.track_domain`)."""
    domain = domain or domain_of(call.session, track_domain)
    target = call.runtime.config.dns.track_domain.lower().rstrip(".")
    return {**presenters.track_domain(track_domain, domain), "cname_target": target}


def _track_domain(call: Call) -> TrackDomain:
    return find_track_domain(call.session, call.server(), call.params["uuid"])


@ops.get(BASE, "List track domains", response=TRACK_DOMAIN, paginated=True)
def list_track_domains(call: Call) -> dict[str, Any]:
    query = track_domains_of(call.server())
    return paginate(call.session, query, TrackDomain.id, call.limit, call.cursor, lambda t: _present(call, t))


@ops.post(
    BASE,
    "Add a track domain",
    status=201,
    response=TRACK_DOMAIN,
    body=obj({"name": string(min_length=1), **SETTINGS}, required=("name",)),
    description="`name` is a subdomain (`track.example.com`) of a verified domain of the server or its "
    "organization, one per domain. Publish a CNAME from it to `dns.track_domain`, then check it.",
    operation_id="create_track_domain",
)
def create(call: Call) -> dict[str, Any]:
    track_domain = add_track_domain(
        call.session,
        call.server(),
        call.body["name"],
        ssl_enabled=bool(call.field("ssl_enabled", True)),
        track_clicks=bool(call.field("track_clicks", True)),
        track_loads=bool(call.field("track_loads", True)),
        excluded_click_domains=call.field("excluded_click_domains", []),
    )
    return _present(call, track_domain)


@ops.get(ITEM, "Get a track domain", response=TRACK_DOMAIN)
def get_track_domain(call: Call) -> dict[str, Any]:
    return _present(call, _track_domain(call))


@ops.patch(
    ITEM,
    "Change a track domain's settings",
    response=TRACK_DOMAIN,
    body=obj(SETTINGS),
    operation_id="update_track_domain",
)
def change(call: Call) -> dict[str, Any]:
    """The name cannot change: it is in the links of mail already sent."""
    track_domain = update_track_domain(
        _track_domain(call),
        ssl_enabled=call.field("ssl_enabled"),
        track_clicks=call.field("track_clicks"),
        track_loads=call.field("track_loads"),
        excluded_click_domains=call.field("excluded_click_domains"),
    )
    call.session.flush()
    result = _present(call, track_domain)
    _changed(call, track_domain.server_id)
    return result


@ops.delete(ITEM, "Delete a track domain", operation_id="delete_track_domain")
def remove(call: Call) -> None:
    track_domain = _track_domain(call)
    server_id = track_domain.server_id
    delete_track_domain(call.session, track_domain)
    _changed(call, server_id)


@ops.post(
    f"{ITEM}/check",
    "Check the track domain's CNAME now",
    response=TRACK_DOMAIN,
    description="Answers the track domain with `dns_status` (`OK`, `Missing`, `Invalid`) and `dns_error`; "
    "Postal tracks mail through it only while the status is `OK`.",
    operation_id="check_track_domain",
)
def check(call: Call) -> dict[str, Any]:
    track_domain = _track_domain(call)
    domain = domain_of(call.session, track_domain)
    config = call.runtime.config
    # Uncached, so that a check sees the record the user has just published.
    lookup = domain_lookup(config, make_resolver(config), full_name(track_domain, domain))
    check_track_domain(config, lookup, track_domain, domain)
    call.session.flush()
    result = _present(call, track_domain, domain)
    _changed(call, track_domain.server_id)
    return result


def _changed(call: Call, server_id: int) -> None:
    """Once committed, the change applies to this process's next message at once (to other
    processes within the track-domain cache's few seconds)."""
    call.commit()
    call.runtime.track_domains.forget(server_id)
