"""IP pools, their addresses and the IP rules of organizations and servers over the management
API: global admins manage pools; rules follow the organization's and the server's permissions."""

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


def test_global_admins_manage_pools_and_their_addresses(api: LiveAPI) -> None:
    boss = api.member("boss@example.com", "acme", admin=True)
    assert boss.get("/ip-pools").status == 403
    assert boss.post("/ip-pools", {"name": "Bulk"}).status == 403

    created = api.admin.post("/ip-pools", {"name": "Bulk Senders"})
    assert created.status == 201
    pool = created.body
    assert (pool["permalink"], pool["queue"], pool["default"]) == ("bulk-senders", "outgoing-bulk-senders", False)
    path = f"/ip-pools/{pool['uuid']}"
    assert api.admin.get("/ip-pools/bulk-senders").body == pool
    changed = api.admin.patch(path, {"name": "Bulk", "default": True}).body
    assert (changed["name"], changed["permalink"], changed["default"]) == ("Bulk", "bulk-senders", True)
    reply = api.admin.patch(path, {"name": " "})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "name")

    added = api.admin.post(f"{path}/addresses", {"ipv4": "192.0.2.10", "hostname": "Out1.Example.com", "priority": 50})
    assert added.status == 201
    address = added.body
    assert (address["ipv4"], address["hostname"], address["priority"], address["ipv6"]) == (
        "192.0.2.10", "out1.example.com", 50, None,
    )  # fmt: skip
    for body, field in [
        ({"ipv4": "300.1.1.1", "hostname": "x.example"}, "ipv4"),
        ({"ipv4": "192.0.2.11", "ipv6": "nope", "hostname": "x.example"}, "ipv6"),
        ({"ipv4": "192.0.2.10", "hostname": "x.example"}, "address"),
    ]:
        reply = api.admin.post(f"{path}/addresses", body)
        assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, field), body
    address_path = f"{path}/addresses/{address['id']}"
    assert api.admin.patch(address_path, {"priority": 100}).body["priority"] == 100
    assert [a["ipv4"] for a in api.admin.get(f"{path}/addresses").body["data"]] == ["192.0.2.10"]
    assert boss.get(address_path).status == 403
    assert api.admin.delete(address_path).status == 204 and api.admin.get(address_path).status == 404

    # The organization may be given the pool; its members see it.
    assert boss.post("/organizations/acme/ip-pools", {"ip_pool": pool["uuid"]}).status == 403
    given = api.admin.post("/organizations/acme/ip-pools", {"ip_pool": "bulk-senders"})
    assert given.status == 200 and pool["uuid"] in [p["uuid"] for p in given.body]
    assert pool["uuid"] in [p["uuid"] for p in boss.get("/organizations/acme/ip-pools").body]
    assert api.admin.patch(SERVER, {"ip_pool": "bulk-senders"}).body["ip_pool_id"] == pool["id"]
    assert api.admin.delete(f"/organizations/acme/ip-pools/{pool['uuid']}").status == 204
    assert api.admin.delete(f"/organizations/acme/ip-pools/{pool['uuid']}").status == 404

    assert api.admin.delete(path).status == 204 and api.admin.get(path).status == 404
    assert api.admin.get(SERVER).body["ip_pool_id"] is None


def test_ip_rules_of_organizations_and_servers(api: LiveAPI) -> None:
    boss = api.member("boss@example.com", "acme", admin=True)
    dev = api.member("dev@example.com", "acme", servers="main")
    bulk = api.admin.post("/ip-pools", {"name": "Bulk"}).body
    spare = api.admin.post("/ip-pools", {"name": "Spare"}).body

    # A global admin may use any pool: it is then given to the organization.
    created = api.admin.post("/organizations/acme/ip-rules", {"ip_pool": "bulk", "to": ["Gmail.com"]})
    assert created.status == 201
    rule = created.body
    assert (rule["owner_type"], rule["ip_pool_id"], rule["from"], rule["to"]) == (
        "Organization", bulk["id"], [], ["gmail.com"],
    )  # fmt: skip
    assert bulk["uuid"] in [p["uuid"] for p in dev.get("/organizations/acme/ip-pools").body]

    # Others may use the organization's pools only.
    reply = dev.post(f"{SERVER}/ip-rules", {"ip_pool": "spare", "from": ["news@example.com"]})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "ip_pool")
    server_rule = dev.post(f"{SERVER}/ip-rules", {"ip_pool": "bulk", "from": ["news@example.com"]}).body
    assert (server_rule["owner_type"], server_rule["from"]) == ("Server", ["news@example.com"])
    reply = dev.post(f"{SERVER}/ip-rules", {"ip_pool": "bulk"})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "from")
    assert dev.post(f"{SERVER}/ip-rules", {"ip_pool": "nope", "to": ["x.example"]}).status == 404

    path = f"{SERVER}/ip-rules/{server_rule['uuid']}"
    changed = dev.patch(path, {"to": ["yahoo.com"], "from": []}).body
    assert (changed["from"], changed["to"]) == ([], ["yahoo.com"])
    reply = dev.patch(path, {"to": []})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "from")
    assert api.admin.patch(path, {"ip_pool": spare["uuid"]}).body["ip_pool_id"] == spare["id"]
    assert [r["uuid"] for r in dev.get(f"{SERVER}/ip-rules").body["data"]] == [server_rule["uuid"]]

    org_path = f"/organizations/acme/ip-rules/{rule['uuid']}"
    assert dev.get(org_path).body == rule
    assert dev.patch(org_path, {"to": ["x.example"]}).status == 403
    assert boss.patch(org_path, {"to": ["x.example"]}).body["to"] == ["x.example"]
    # A server's rule is not reachable as the organization's, and the other way round.
    assert dev.get(f"/organizations/acme/ip-rules/{server_rule['uuid']}").status == 404
    assert dev.get(f"{SERVER}/ip-rules/{rule['uuid']}").status == 404
    assert dev.delete(path).status == 204 and dev.get(path).status == 404
    assert boss.delete(org_path).status == 204


def test_ip_rules_are_invisible_across_tenants(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    api.admin.post("/organizations", {"name": "Rival", "permalink": "rival"})
    outsider = api.member("outsider@example.com", "rival", admin=True)
    dev = api.member("dev@example.com", "acme", servers="other")
    api.admin.post("/ip-pools", {"name": "Bulk"})
    rule = api.admin.post(f"{SERVER}/ip-rules", {"ip_pool": "bulk", "to": ["gmail.com"]}).body

    assert outsider.get("/organizations/acme/ip-pools").status == 404
    assert outsider.get("/organizations/acme/ip-rules").status == 404
    for client in (outsider, dev):
        assert client.get(f"{SERVER}/ip-rules").status == 404
        assert client.delete(f"{SERVER}/ip-rules/{rule['uuid']}").status == 404
    assert dev.get(f"/organizations/acme/servers/other/ip-rules/{rule['uuid']}").status == 404
    # A rival organization's admin cannot use acme's pool through their own rules.
    reply = outsider.post("/organizations/rival/ip-rules", {"ip_pool": "bulk", "to": ["x.example"]})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "ip_pool")
