"""Servers, domains and credentials over the management API, with each role's permissions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Installation, merge
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.smtp_sink import SMTPSink

SERVER = "/organizations/acme/servers/main"


@pytest.fixture
def config_data(config_data: dict[str, Any], smtp_sink: SMTPSink) -> dict[str, Any]:
    """System mail (domain verification codes) goes to the test sink too."""
    return merge(config_data, {"smtp": {"host": "127.0.0.1", "port": smtp_sink.port}})


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


def test_connection_details_say_how_to_send_and_receive(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme")
    body = dev.get(f"{SERVER}/connection").body
    assert body["smtp_hostname"] == "postal.test" and body["smtp_ports"] == [{"port": 25, "security": "None"}]
    assert body["api_url"] == "https://postal.test/api/v1/send/message" and body["api_key_header"] == "X-Server-API-Key"
    assert (body["route_domain"], body["mx_records"]) == ("routes.postal.test", ["mx1.postal.test", "mx2.postal.test"])
    stranger = api.member("stranger@example.com", "acme", servers="")
    assert stranger.get(f"{SERVER}/connection").status == 404


def test_domains_verified_by_an_emailed_code(api: LiveAPI, smtp_sink: SMTPSink) -> None:
    dev = api.member("dev@example.com", "acme")
    domain = dev.post(f"{SERVER}/domains", {"name": "a.shop.example.org", "verification_method": "Email"}).body
    assert domain["verification_method"] == "Email" and domain["verified"] is False
    path = f"{SERVER}/domains/{domain['uuid']}"
    purposes = {r["purpose"] for r in dev.get(f"{path}/dns-records").body["records"]}
    assert "verification" not in purposes and "spf" in purposes
    how = dev.get(f"{path}/verification").body
    assert how["dns_record"] is None and how["code_sent_at"] is None
    assert how["email_addresses"][:2] == ["webmaster@a.shop.example.org", "postmaster@a.shop.example.org"]
    assert "hostmaster@example.org" in how["email_addresses"] and not any(
        a.endswith("@org") for a in how["email_addresses"]
    )

    assert dev.post(f"{path}/verify").code == "validation_failed"  # a code is needed
    assert dev.post(f"{path}/verify", {"code": "123456"}).body["error"]["details"][0]["field"] == "code"
    assert dev.post(f"{path}/verification-code", {"address": "me@example.org"}).status == 422
    sent = dev.post(f"{path}/verification-code", {"address": "Admin@example.org"})
    assert sent.status == 200 and sent.body["code_sent_at"] is not None and sent.body["code_expires_at"] is not None
    [mail] = smtp_sink.handler.wait_for(1)
    assert mail.rcpt_tos == ["admin@example.org"]
    code = re.search(rb"\b(\d{6})\b", mail.data)
    assert code is not None
    assert dev.post(f"{path}/verification-code", {"address": "admin@example.org"}).status == 422  # once a minute

    wrong = "000000" if code.group(1) != b"000000" else "111111"
    assert dev.post(f"{path}/verify", {"code": wrong}).body["verified"] is False
    assert dev.post(f"{path}/verify", {"code": code.group(1).decode()}).body["verified"] is True
    assert dev.get(f"{path}/verification").body["verified"] is True
    assert dev.post(f"{path}/verification-code", {"address": "admin@example.org"}).status == 422  # already verified


def test_wrong_codes_use_the_code_up(api: LiveAPI, smtp_sink: SMTPSink) -> None:
    domain = api.admin.post(f"{SERVER}/domains", {"name": "guess.example", "verification_method": "Email"}).body
    path = f"{SERVER}/domains/{domain['uuid']}"
    api.admin.post(f"{path}/verification-code", {"address": "postmaster@guess.example"})
    [mail] = smtp_sink.handler.wait_for(1)
    code = re.search(rb"\b(\d{6})\b", mail.data)
    assert code is not None
    wrong = "000000" if code.group(1) != b"000000" else "111111"
    for _ in range(5):
        assert api.admin.post(f"{path}/verify", {"code": wrong}).body["verified"] is False
    refused = api.admin.post(f"{path}/verify", {"code": code.group(1).decode()})
    assert refused.status == 422 and "too many times" in refused.body["error"]["message"]


def test_dns_domains_take_no_code(api: LiveAPI) -> None:
    domain = api.admin.post(f"{SERVER}/domains", {"name": "dns.example"}).body
    path = f"{SERVER}/domains/{domain['uuid']}"
    assert api.admin.post(f"{path}/verify", {"code": "123456"}).status == 422
    assert api.admin.post(f"{path}/verification-code", {"address": "admin@dns.example"}).status == 422
    how = api.admin.get(f"{path}/verification").body
    assert how["dns_record"]["value"].startswith("postal-verification ") and how["email_addresses"] == []
    assert api.admin.get(path).body["spf_status"] is None
