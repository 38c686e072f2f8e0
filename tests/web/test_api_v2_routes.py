"""Endpoints and routes of a server over the management API: create, read, change, delete, the
route rules of Postal, and nothing visible across tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api

SERVER = "/organizations/acme/servers/main"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def test_endpoints_of_each_kind_are_created_changed_and_deleted(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme", servers="main")

    created = dev.post(f"{SERVER}/http-endpoints", {"name": "App", "url": "https://app.example.com/in"})
    assert created.status == 201
    http = created.body
    assert (http["type"], http["encoding"], http["format"]) == ("HTTPEndpoint", "BodyAsJSON", "Hash")
    assert http["ref"] == f"http:{http['uuid']}" and isinstance(http["id"], int)
    smtp = dev.post(f"{SERVER}/smtp-endpoints", {"name": "Relay", "hostname": "MX.Example.NET."}).body
    assert (smtp["hostname"], smtp["port"], smtp["ssl_mode"]) == ("mx.example.net", 25, "Auto")
    address = dev.post(f"{SERVER}/address-endpoints", {"address": "inbox@example.net"}).body
    assert address["ref"] == f"address:{address['uuid']}"

    path = f"{SERVER}/http-endpoints/{http['uuid']}"
    changed = dev.patch(path, {"url": "http://app.example.com/v2", "timeout": 30, "strip_replies": True})
    assert changed.status == 200
    assert (changed.body["url"], changed.body["timeout"], changed.body["strip_replies"]) == (
        "http://app.example.com/v2", 30, True,
    )  # fmt: skip
    assert dev.get(path).body == changed.body
    smtp_path = f"{SERVER}/smtp-endpoints/{smtp['uuid']}"
    assert dev.patch(smtp_path, {"port": 587, "ssl_mode": "STARTTLS"}).body["port"] == 587
    assert dev.patch(f"{SERVER}/address-endpoints/{address['uuid']}", {"address": "other@example.net"}).status == 200

    # Given the wrong values, the answer names the field.
    for method, url, body, field in [
        ("POST", f"{SERVER}/http-endpoints", {"name": "X", "url": "ftp://example.com"}, "url"),
        ("PATCH", path, {"name": "  "}, "name"),
        ("PATCH", smtp_path, {"hostname": "not a host"}, "hostname"),
        ("POST", f"{SERVER}/address-endpoints", {"address": "other@example.net"}, "address"),
    ]:
        reply = dev.request(method, url, body)
        assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, field), reply.body
    reply = dev.post(f"{SERVER}/http-endpoints", {"name": "X", "url": "https://x.example", "timeout": 1})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (400, "timeout")

    listed = dev.get(f"{SERVER}/http-endpoints").body
    assert [e["uuid"] for e in listed["data"]] == [http["uuid"]] and listed["next_cursor"] is None
    # An endpoint's uuid under another kind's collection is not found.
    assert dev.get(f"{SERVER}/smtp-endpoints/{http['uuid']}").status == 404
    assert dev.delete(path).status == 204 and dev.get(path).status == 404


def test_routes_follow_postals_rules_and_can_be_changed(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme", servers="main")
    http = dev.post(f"{SERVER}/http-endpoints", {"name": "App", "url": "https://app.example.com/in"}).body
    hook = dev.post(f"{SERVER}/http-endpoints", {"name": "Log", "url": "https://log.example.com/in"}).body
    smtp = dev.post(f"{SERVER}/smtp-endpoints", {"name": "Relay", "hostname": "mx.example.net"}).body

    created = dev.post(f"{SERVER}/routes", {"address": "Support@example.com", "endpoints": [http["ref"], smtp["ref"]]})
    assert created.status == 201
    route = created.body
    assert (route["address"], route["mode"], route["spam_mode"]) == ("support@example.com", "Endpoint", "Mark")
    assert route["endpoints"] == [http["ref"], smtp["ref"]]
    assert route["endpoint"] == {"type": "HTTPEndpoint", "id": http["id"]}
    assert route["additional_endpoints"] == [{"type": "SMTPEndpoint", "id": smtp["id"]}]

    for body, field in [
        ({"address": "support@example.com", "endpoints": [http["ref"]]}, "name"),
        ({"address": "x@unknown.example", "endpoints": [http["ref"]]}, "domain"),
        ({"address": "x@example.com"}, "endpoints"),
        ({"address": "x@example.com", "mode": "Accept", "endpoints": [http["ref"]]}, "endpoints"),
        ({"address": "x@example.com", "endpoints": ["http:no-such-uuid"]}, "endpoints"),
        ({"address": "*@example.com", "endpoints": [http["ref"], smtp["ref"]]}, "endpoints"),
    ]:
        reply = dev.post(f"{SERVER}/routes", body)
        assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, field), body

    path = f"{SERVER}/routes/{route['uuid']}"
    assert dev.get(path).body == route
    changed = dev.patch(path, {"endpoints": [hook["ref"], http["ref"]], "spam_mode": "Quarantine"}).body
    assert (changed["endpoints"], changed["spam_mode"], changed["mode"]) == (
        [hook["ref"], http["ref"]], "Quarantine", "Endpoint",
    )  # fmt: skip
    held = dev.patch(path, {"mode": "Hold"}).body
    assert (held["mode"], held["endpoints"], held["additional_endpoints"]) == ("Hold", [], [])
    reply = dev.patch(path, {"mode": "Endpoint"})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "endpoints")
    assert dev.patch(path, {"mode": "Endpoint", "endpoints": [smtp["ref"]]}).body["endpoints"] == [smtp["ref"]]

    # Deleting the route's endpoint leaves it rejecting mail, as Postal does.
    assert dev.delete(f"{SERVER}/smtp-endpoints/{smtp['uuid']}").status == 204
    assert dev.get(path).body["mode"] == "Reject"
    assert [r["uuid"] for r in dev.get(f"{SERVER}/routes").body["data"]] == [route["uuid"]]
    assert dev.delete(path).status == 204 and dev.get(path).status == 404


def test_routes_and_endpoints_are_invisible_across_tenants(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    api.admin.post("/organizations", {"name": "Rival", "permalink": "rival"})
    outsider = api.member("outsider@example.com", "rival", admin=True)
    dev = api.member("dev@example.com", "acme", servers="other")
    http = api.admin.post(f"{SERVER}/http-endpoints", {"name": "App", "url": "https://app.example.com/"}).body
    route = api.admin.post(f"{SERVER}/routes", {"address": "a@example.com", "endpoints": [http["ref"]]}).body

    for client in (outsider, dev):
        assert client.get(f"{SERVER}/routes").status == 404
        assert client.get(f"{SERVER}/routes/{route['uuid']}").status == 404
        assert client.delete(f"{SERVER}/http-endpoints/{http['uuid']}").status == 404
    # The member's own server does not reach another server's objects by uuid either.
    other = "/organizations/acme/servers/other"
    assert dev.get(f"{other}/routes/{route['uuid']}").status == 404
    assert dev.get(f"{other}/http-endpoints/{http['uuid']}").status == 404
    reply = dev.post(f"{other}/routes", {"address": "*@example.com", "mode": "Accept"})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "domain")
    reply = dev.post(f"{other}/routes", {"address": "__returnpath__", "endpoints": [http["ref"]]})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "endpoints")
