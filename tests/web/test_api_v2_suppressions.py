"""A server's suppression list over the management API: add, list, remove, and a CSV export that
the import takes back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core.messages import suppressions
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api

SERVER = "/organizations/acme/servers/main"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def test_recipients_are_suppressed_listed_and_removed(api: LiveAPI, installation: Installation) -> None:
    dev = api.member("dev@example.com", "acme", servers="main")

    created = dev.post(f"{SERVER}/suppressions", {"address": " Bob@Example.NET ", "reason": "complained", "days": 2})
    assert created.status == 201
    entry = created.body
    assert (entry["address"], entry["type"], entry["reason"]) == ("bob@example.net", "recipient", "complained")
    assert entry["keep_until"] - entry["timestamp"] == pytest.approx(2 * 86400, abs=1)
    default = dev.post(f"{SERVER}/suppressions", {"address": "carol@example.net"}).body
    assert default["keep_until"] - default["timestamp"] == pytest.approx(30 * 86400, abs=1)
    # The list the delivery pipeline reads holds them.
    with installation.runtime.message_dbs.get(installation.server_id).reader.connect() as conn:
        assert suppressions.get(conn, "BOB@example.net", time.time()) is not None

    reply = dev.post(f"{SERVER}/suppressions", {"address": "not an address"})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "address")
    assert dev.post(f"{SERVER}/suppressions", {"address": "x@example.net", "days": 0}).status == 400

    first = dev.get(f"{SERVER}/suppressions?limit=1").body
    assert [e["address"] for e in first["data"]] == ["bob@example.net"] and first["next_cursor"]
    rest = dev.get(f"{SERVER}/suppressions?cursor={first['next_cursor']}").body
    assert [e["address"] for e in rest["data"]] == ["carol@example.net"] and rest["next_cursor"] is None
    found = dev.get(f"{SERVER}/suppressions?address=CAROL@example.net").body["data"]
    assert found == [default]

    path = f"{SERVER}/suppressions/{entry['id']}"
    assert dev.get(path).body == entry
    assert dev.delete(path).status == 204
    assert dev.get(path).status == 404 and dev.delete(path).status == 404
    assert dev.get(f"{SERVER}/suppressions/nonsense").status == 404


def test_the_csv_export_can_be_imported_again(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme", servers="main")
    dev.post(f"{SERVER}/suppressions", {"address": "bob@example.net", "reason": "complained, twice"})
    dev.post(f"{SERVER}/suppressions", {"address": "carol@example.net", "reason": "bounced"})

    exported = dev.get(f"{SERVER}/suppressions/export")
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "suppressions-main.csv" in exported.headers["content-disposition"]
    lines = exported.raw.decode().splitlines()
    assert lines[0] == "address,type,reason,timestamp,keep_until"
    assert lines[1].startswith('bob@example.net,recipient,"complained, twice",') and len(lines) == 3

    # Given the list emptied, the export brings back the same entries with the same times.
    before = dev.get(f"{SERVER}/suppressions").body["data"]
    for entry in before:
        dev.delete(f"{SERVER}/suppressions/{entry['id']}")
    imported = dev.post(f"{SERVER}/suppressions/import", {"csv": exported.raw.decode()})
    assert imported.status == 200 and imported.body == {"imported": 2, "skipped": 0}
    after = dev.get(f"{SERVER}/suppressions").body["data"]
    keys = ("address", "reason", "timestamp", "keep_until")
    assert [[e[k] for k in keys] for e in after] == [[pytest.approx(e[k]) for k in keys] for e in before]

    # A file of addresses alone takes the defaults; expired entries are skipped.
    text = "Address\ndave@example.net\nerin@example.net,\n"
    assert dev.post(f"{SERVER}/suppressions/import", {"csv": text, "days": 1}).body == {"imported": 2, "skipped": 0}
    dave = dev.get(f"{SERVER}/suppressions?address=dave@example.net").body["data"][0]
    assert dave["reason"] == "imported" and dave["keep_until"] - dave["timestamp"] == pytest.approx(86400, abs=1)
    old = "address,keep_until\nold@example.net,2001-01-01T00:00:00Z\n"
    assert dev.post(f"{SERVER}/suppressions/import", {"csv": old}).body == {"imported": 0, "skipped": 1}

    # A bad line refuses the whole file, naming the line.
    for bad, message in [
        ("address\nfrank@example.net\nnot-an-address\n", "line 3"),
        ("address,keep_until\nfrank@example.net,tomorrow\n", "line 2"),
        ("address,type\nfrank@example.net,sender\n", "line 2"),
        ("email\nfrank@example.net\n", "header"),
    ]:
        reply = dev.post(f"{SERVER}/suppressions/import", {"csv": bad})
        assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, "csv"), bad
        assert message in reply.body["error"]["message"]
    assert dev.get(f"{SERVER}/suppressions?address=frank@example.net").body["data"] == []


def test_suppressions_are_invisible_across_tenants(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    api.admin.post("/organizations", {"name": "Rival", "permalink": "rival"})
    outsider = api.member("outsider@example.com", "rival", admin=True)
    dev = api.member("dev@example.com", "acme", servers="other")
    entry = api.admin.post(f"{SERVER}/suppressions", {"address": "bob@example.net"}).body

    for client in (outsider, dev):
        assert client.get(f"{SERVER}/suppressions").status == 404
        assert client.get(f"{SERVER}/suppressions/export").status == 404
        assert client.post(f"{SERVER}/suppressions/import", {"csv": "address\nx@example.net\n"}).status == 404
        assert client.delete(f"{SERVER}/suppressions/{entry['id']}").status == 404
    # Each server has its own list: the same id on the member's server is another entry, or none.
    other = "/organizations/acme/servers/other/suppressions"
    assert dev.get(other).body["data"] == []
    assert api.admin.get(f"{SERVER}/suppressions/{entry['id']}").status == 200
