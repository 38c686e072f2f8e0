"""Servers, domains and credentials over the management API, with each role's permissions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api

SERVER = "/organizations/acme/servers/main"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def test_servers_and_their_settings(api: LiveAPI) -> None:
    boss = api.member("boss@example.com", "acme", admin=True)
    dev = api.member("dev@example.com", "acme")

    created = boss.post("/organizations/acme/servers", {"name": "Bulk Mail", "mode": "Development"})
    assert created.status == 201
    bulk = created.body
    assert (bulk["permalink"], bulk["mode"], bulk["status"], bulk["organization"]) == (
        "bulk-mail", "Development", "Development", "acme",
    )  # fmt: skip
    assert (bulk["message_retention_days"], bulk["spam_threshold"], bulk["send_limit"]) == (60, 5.0, None)
    assert dev.post("/organizations/acme/servers", {"name": "Mine"}).status == 403
    assert boss.post("/organizations/acme/servers", {"name": "Bulk Mail"}).code == "validation_failed"

    changed = dev.patch(SERVER, {"mode": "Development", "postmaster_address": "pm@example.com", "spam_threshold": 3})
    assert changed.status == 200
    assert (changed.body["mode"], changed.body["postmaster_address"], changed.body["spam_threshold"]) == (
        "Development", "pm@example.com", 3.0,
    )  # fmt: skip
    assert dev.patch(SERVER, {"postmaster_address": "not an address"}).status == 422
    reply = dev.patch(SERVER, {"send_limit": 100, "privacy_mode": True})
    assert (reply.status, reply.code) == (403, "forbidden")
    assert "privacy_mode, send_limit" in reply.body["error"]["message"]

    settings = {"send_limit": 100, "message_retention_days": 10, "raw_message_retention_days": 5,
                "raw_message_retention_size": 512, "privacy_mode": True, "allow_sender": True,
                "log_smtp_data": True, "outbound_spam_threshold": 7.5}  # fmt: skip
    reply = api.admin.patch(SERVER, settings)
    assert reply.status == 200 and {k: reply.body[k] for k in settings} == settings
    assert api.admin.patch(SERVER, {"ip_pool": "nope"}).status == 404

    assert dev.post(f"{SERVER}/suspend", {"reason": "abuse"}).status == 403
    suspended = api.admin.post(f"{SERVER}/suspend", {"reason": "abuse"}).body
    assert (suspended["status"], suspended["suspended"], suspended["suspension_reason"]) == ("Suspended", True, "abuse")
    assert api.admin.post(f"{SERVER}/unsuspend").body["status"] == "Development"

    assert [s["permalink"] for s in dev.get("/organizations/acme/servers").body["data"]] == ["main", "bulk-mail"]
    assert dev.delete("/organizations/acme/servers/bulk-mail").status == 403
    assert boss.delete("/organizations/acme/servers/bulk-mail").status == 204
    assert boss.get("/organizations/acme/servers/bulk-mail").status == 404


def verification_record(api: LiveAPI, path: str) -> dict[str, Any]:
    records = api.admin.get(f"{path}/dns-records").body["records"]
    return next(r for r in records if r["purpose"] == "verification")


def test_server_domains_are_added_verified_and_checked(api: LiveAPI, zone: Any) -> None:
    dev = api.member("dev@example.com", "acme")
    created = dev.post(f"{SERVER}/domains", {"name": "Mail.Example.ORG"})
    assert created.status == 201
    domain = created.body
    assert (domain["name"], domain["owner_type"], domain["verified"]) == ("mail.example.org", "Server", False)
    assert dev.post(f"{SERVER}/domains", {"name": "mail.example.org"}).code == "validation_failed"
    assert dev.post(f"{SERVER}/domains", {"name": "not a domain"}).code == "validation_failed"
    assert dev.post(f"{SERVER}/domains", {"name": "x.example.org", "verified": True}).status == 403

    path = f"{SERVER}/domains/{domain['uuid']}"
    records = dev.get(f"{path}/dns-records").body
    assert records["domain"] == "mail.example.org"
    assert {r["purpose"] for r in records["records"]} == {"verification", "spf", "dkim", "return_path", "mx"}
    assert dev.post(f"{path}/verify").body["verified"] is False
    record = verification_record(api, path)
    zone.add(record["name"], "TXT", record["value"])
    assert dev.post(f"{path}/verify").body["verified"] is True

    spf = next(r for r in records["records"] if r["purpose"] == "spf")
    zone.add(spf["name"], "TXT", spf["value"])
    status = dev.post(f"{path}/check").body
    assert (status["spf_status"], status["dkim_status"], status["dns_ok"]) == ("OK", "Missing", False)
    assert dev.get(path).body["dns_checked_at"] is not None

    names = [d["name"] for d in dev.get(f"{SERVER}/domains").body["data"]]
    assert names == ["example.com", "mail.example.org"]
    assert dev.delete(path).status == 204 and dev.get(path).status == 404


def test_organization_domains_are_managed_by_organization_admins(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme")
    assert dev.post("/organizations/acme/domains", {"name": "acme.example"}).status == 403
    created = api.admin.post("/organizations/acme/domains", {"name": "acme.example", "verified": True})
    assert created.status == 201 and created.body["verified"] is True and created.body["owner_type"] == "Organization"
    assert [d["name"] for d in dev.get("/organizations/acme/domains").body["data"]] == ["acme.example"]
    path = f"/organizations/acme/domains/{created.body['uuid']}"
    assert dev.delete(path).status == 403
    # A server's domain is not reachable as an organization's, and the other way round.
    assert dev.get(f"{SERVER}/domains/{created.body['uuid']}").status == 404
    assert api.admin.delete(path).status == 204


def test_credentials_show_their_key_once(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    dev = api.member("dev@example.com", "acme", servers="main")
    created = dev.post(f"{SERVER}/credentials", {"type": "SMTP", "name": "App"})
    assert created.status == 201
    credential = created.body
    assert credential["type"] == "SMTP" and len(credential["key"]) == 24 and credential["hold"] is False
    path = f"{SERVER}/credentials/{credential['uuid']}"
    assert dev.get(path).body == {**credential, "key": None}

    network = dev.post(f"{SERVER}/credentials", {"type": "SMTP-IP", "key": "192.0.2.0/24", "hold": True}).body
    assert network["key"] == "192.0.2.0/24" and network["hold"] is True
    assert dev.post(f"{SERVER}/credentials", {"type": "SMTP-IP"}).code == "validation_failed"
    listed = dev.get(f"{SERVER}/credentials").body["data"]
    assert len(listed) == 4 and next(c for c in listed if c["type"] == "SMTP-IP")["key"] == "192.0.2.0/24"

    changed = dev.patch(path, {"name": "Renamed", "hold": True}).body
    assert (changed["name"], changed["hold"], changed["key"]) == ("Renamed", True, None)
    # The member was given only `main`: another server's credentials do not exist for them.
    other = api.admin.post("/organizations/acme/servers/other/credentials", {"type": "API"}).body
    assert dev.get(f"/organizations/acme/servers/other/credentials/{other['uuid']}").status == 404
    assert dev.get(f"{SERVER}/credentials/{other['uuid']}").status == 404
    assert dev.delete(path).status == 204 and dev.get(path).status == 404
