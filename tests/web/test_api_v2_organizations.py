"""Organizations and memberships over the management API, and what each kind of user may do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def test_global_admins_create_list_change_and_delete_organizations(api: LiveAPI) -> None:
    created = api.admin.post("/organizations", {"name": "Beta Corp", "time_zone": "Europe/London"})
    assert created.status == 201
    org = created.body
    assert (org["name"], org["permalink"], org["time_zone"], org["suspended"]) == (
        "Beta Corp", "beta-corp", "Europe/London", False,
    )  # fmt: skip
    assert api.admin.get("/organizations/beta-corp").body == org

    listed = api.admin.get("/organizations").body
    assert [o["permalink"] for o in listed["data"]] == ["acme", "beta-corp"] and listed["next_cursor"] is None

    changed = api.admin.patch("/organizations/beta-corp", {"name": "Beta Inc", "time_zone": "UTC"})
    assert changed.status == 200 and (changed.body["name"], changed.body["time_zone"]) == ("Beta Inc", "UTC")
    reply = api.admin.patch("/organizations/beta-corp", {"time_zone": "Mars/Olympus"})
    assert reply.status == 422 and reply.code == "validation_failed"
    assert reply.body["error"]["details"][0]["field"] == "time_zone"
    reply = api.admin.post("/organizations", {"name": "Other", "permalink": "beta-corp"})
    assert (reply.status, reply.code) == (422, "validation_failed")

    assert api.admin.delete("/organizations/beta-corp").status == 204
    assert api.admin.get("/organizations/beta-corp").status == 404


def test_lists_are_paginated_with_an_opaque_cursor(api: LiveAPI) -> None:
    for n in range(5):
        assert api.admin.post("/organizations", {"name": f"Org {n}"}).status == 201
    seen, cursor, pages = [], None, 0
    while True:
        path = "/organizations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.admin.get(path).body
        seen += [o["permalink"] for o in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["data"]) == 2
    assert seen == ["acme", "org-0", "org-1", "org-2", "org-3", "org-4"] and pages == 3
    assert api.admin.get("/organizations?limit=501").status == 400


def test_only_global_admins_create_organizations(api: LiveAPI) -> None:
    member = api.member("boss@example.com", "acme", admin=True)
    reply = member.post("/organizations", {"name": "Mine"})
    assert (reply.status, reply.code) == (403, "forbidden")


def test_members_see_their_organizations_only(api: LiveAPI) -> None:
    api.admin.post("/organizations", {"name": "Beta", "permalink": "beta"})
    api.admin.post("/organizations/beta/servers", {"name": "Secret", "permalink": "secret"})
    member = api.member("dev@example.com", "acme")
    outsider = api.user("nobody@example.com")

    assert [o["permalink"] for o in member.get("/organizations").body["data"]] == ["acme"]
    assert outsider.get("/organizations").body == {"data": [], "next_cursor": None}
    # Another tenant's objects do not exist for them, whatever the method.
    for path in ("/organizations/beta", "/organizations/beta/servers", "/organizations/beta/servers/secret",
                 "/organizations/beta/members", "/organizations/beta/domains"):  # fmt: skip
        reply = member.get(path)
        assert (reply.status, reply.code) == (404, "not_found"), path
    assert member.patch("/organizations/beta", {"name": "Mine"}).status == 404
    assert member.delete("/organizations/beta/servers/secret").status == 404
    assert member.post("/organizations/beta/members", {"email": "dev@example.com"}).status == 404
    assert api.admin.get("/organizations/beta").body["name"] == "Beta"
    # Inside their own organization a plain member may not administer.
    reply = member.patch("/organizations/acme", {"name": "Taken over"})
    assert (reply.status, reply.code) == (403, "forbidden")
    assert member.get("/organizations/acme/members").status == 403


def test_organization_admins_manage_members_and_their_servers(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Bulk", "permalink": "bulk"})
    boss = api.member("boss@example.com", "acme", admin=True)
    dev = api.user("dev@example.com")

    added = boss.post("/organizations/acme/members", {"email": "DEV@example.com", "servers": ["bulk"]})
    assert added.status == 201
    assert (added.body["admin"], added.body["all_servers"], added.body["servers"]) == (False, False, ["bulk"])
    uuid = added.body["user"]["uuid"]
    assert [s["permalink"] for s in dev.get("/organizations/acme/servers").body["data"]] == ["bulk"]
    assert dev.get("/organizations/acme/servers/main").status == 404

    changed = boss.patch(f"/organizations/acme/members/{uuid}", {"servers": "all"})
    assert (changed.body["all_servers"], changed.body["servers"], changed.body["admin"]) == (True, [], False)
    assert [s["permalink"] for s in dev.get("/organizations/acme/servers").body["data"]] == ["main", "bulk"]
    assert boss.patch(f"/organizations/acme/members/{uuid}", {"admin": True}).body["admin"] is True

    listed = boss.get("/organizations/acme/members").body["data"]
    assert sorted(m["user"]["email_address"] for m in listed) == ["boss@example.com", "dev@example.com"]
    assert boss.get(f"/organizations/acme/members/{uuid}").body["user"]["email_address"] == "dev@example.com"

    assert boss.delete(f"/organizations/acme/members/{uuid}").status == 204
    assert dev.get("/organizations/acme").status == 404
    assert boss.get(f"/organizations/acme/members/{uuid}").status == 404
    reply = boss.post("/organizations/acme/members", {"email": "ghost@example.com"})
    assert (reply.status, reply.code) == (404, "not_found")
    reply = boss.post("/organizations/acme/members", {"email": "dev@example.com", "servers": ["nope"]})
    assert (reply.status, reply.code) == (404, "not_found")
