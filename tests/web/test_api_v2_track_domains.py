"""Track domains of a server over the management API: settings, the DNS check, and who may see them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api

BASE = "/organizations/acme/servers/main/track-domains"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def test_members_add_change_check_and_delete_track_domains(api: LiveAPI, zone: Any) -> None:
    dev = api.member("dev@example.com", "acme")

    # When a member adds a track domain under the server's verified domain
    created = dev.post(BASE, {"name": "track.example.com", "excluded_click_domains": ["unsub.example.com"]})

    # Then it has Postal's defaults and has not been checked
    assert created.status == 201
    track = created.body
    assert (track["name"], track["domain"], track["ssl_enabled"], track["track_clicks"], track["track_loads"]) == (
        "track.example.com", "example.com", True, True, True,
    )  # fmt: skip
    assert (track["excluded_click_domains"], track["dns_status"], track["dns_checked_at"]) == (
        ["unsub.example.com"], None, None,
    )  # fmt: skip
    item = f"{BASE}/{track['uuid']}"
    assert dev.get(item).body == track
    assert dev.get(BASE).body == {"data": [track], "next_cursor": None}

    # And its settings change, but not its name
    changed = dev.patch(item, {"ssl_enabled": False, "track_loads": False, "excluded_click_domains": []})
    assert changed.status == 200
    assert (changed.body["ssl_enabled"], changed.body["track_loads"], changed.body["track_clicks"]) == (
        False, False, True,
    )  # fmt: skip
    assert changed.body["excluded_click_domains"] == []
    reply = dev.patch(item, {"name": "other.example.com"})
    assert (reply.status, reply.code) == (400, "invalid_request")

    # When the CNAME is missing, then wrong, then right, the check says so
    missing = dev.post(f"{item}/check").body
    assert (missing["dns_status"], missing["dns_error"]) == ("Missing", "There is no CNAME record at track.example.com")
    assert missing["dns_checked_at"] is not None
    zone.set("track.example.com", "CNAME", "somewhere.example.")
    assert dev.post(f"{item}/check").body["dns_status"] == "Invalid"
    expected = api.runtime.config.dns.track_domain
    zone.set("track.example.com", "CNAME", f"{expected}.")
    checked = dev.post(f"{item}/check")
    assert checked.status == 200 and (checked.body["dns_status"], checked.body["dns_error"]) == ("OK", None)
    assert dev.get(item).body["dns_status"] == "OK"

    # And it is deleted
    assert dev.delete(item).status == 204
    assert dev.get(item).status == 404
    assert dev.get(BASE).body["data"] == []


def test_track_domain_rules_answer_422(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers/main/domains", {"name": "pending.example"})
    for name in ("example.com", "track.pending.example", "track.nowhere.example", "not a name"):
        reply = api.admin.post(BASE, {"name": name})
        assert (reply.status, reply.code) == (422, "validation_failed"), name
        assert reply.body["error"]["details"][0]["field"] == "name"
    reply = api.admin.post(BASE, {"name": "track.example.com", "excluded_click_domains": ["not a host"]})
    assert reply.body["error"]["details"][0]["field"] == "excluded_click_domains"
    assert api.admin.post(BASE, {"name": "track.example.com"}).status == 201
    reply = api.admin.post(BASE, {"name": "links.example.com"})
    assert (reply.status, reply.code) == (422, "validation_failed")
    assert api.admin.post(BASE, {}).status == 400
    assert api.admin.post(BASE, {"name": "t.example.com", "track_clicks": "yes"}).status == 400


def test_track_domains_of_organization_domains(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/domains", {"name": "acme.example", "verified": True})
    reply = api.admin.post(BASE, {"name": "click.acme.example", "ssl_enabled": False})
    assert reply.status == 201 and (reply.body["domain"], reply.body["ssl_enabled"]) == ("acme.example", False)


def test_only_members_with_the_server_see_its_track_domains(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Bulk", "permalink": "bulk"})
    track = api.admin.post(BASE, {"name": "track.example.com"}).body
    item = f"{BASE}/{track['uuid']}"
    limited = api.member("limited@example.com", "acme", servers="bulk")
    outsider = api.user("nobody@example.com")

    for client in (limited, outsider):
        for method, path, body in [
            ("GET", BASE, None),
            ("POST", BASE, {"name": "links.example.com"}),
            ("GET", item, None),
            ("PATCH", item, {"track_clicks": False}),
            ("POST", f"{item}/check", None),
            ("DELETE", item, None),
        ]:
            reply = client.request(method, path, body)
            assert (reply.status, reply.code) == (404, "not_found"), (method, path)
    # Another server's path does not reach it either.
    assert api.admin.get(f"/organizations/acme/servers/bulk/track-domains/{track['uuid']}").status == 404
    assert api.admin.get(item).body["track_clicks"] is True


def test_track_domains_name_their_cname_target(api: LiveAPI) -> None:
    created = api.admin.post(BASE, {"name": "links.example.com"}).body
    assert created["cname_target"] == api.runtime.config.dns.track_domain
    assert api.admin.get(f"{BASE}/{created['uuid']}").body["cname_target"] == created["cname_target"]
