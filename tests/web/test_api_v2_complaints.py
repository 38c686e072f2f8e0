"""A server's complaints over the management API: listed oldest first, by message, paginated, and
visible only to those who may see the server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core.messages import complaints
from core.messages.complaints import NewComplaint
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api

SERVER = "/organizations/acme/servers/main"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def record(installation: Installation, *message_ids: int) -> None:
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        complaints.add_many(
            conn,
            [
                NewComplaint(m, f"r{m}@example.net", "abuse", report_message_id=100 + m, user_agent="FBL/1")
                for m in message_ids
            ],
            time.time(),
        )


def test_complaints_are_listed_by_message_and_page(api: LiveAPI, installation: Installation) -> None:
    record(installation, 1, 2, 1)
    dev = api.member("dev@example.com", "acme", servers="main")
    listed = dev.get(f"{SERVER}/complaints")
    assert listed.status == 200
    assert [(c["message_id"], c["address"], c["report_message_id"]) for c in listed.body["data"]] == [
        (1, "r1@example.net", 101), (2, "r2@example.net", 102), (1, "r1@example.net", 101),
    ]  # fmt: skip
    assert listed.body["data"][0]["feedback_type"] == "abuse" and listed.body["data"][0]["user_agent"] == "FBL/1"
    assert [c["message_id"] for c in dev.get(f"{SERVER}/complaints?message_id=2").body["data"]] == [2]
    first = dev.get(f"{SERVER}/complaints?limit=2").body
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = dev.get(f"{SERVER}/complaints?limit=2&cursor={first['next_cursor']}").body
    assert [c["id"] for c in rest["data"]] == [listed.body["data"][2]["id"]] and rest["next_cursor"] is None
    assert dev.get(f"{SERVER}/complaints?message_id=x").status in (400, 422)


def test_complaints_are_invisible_across_tenants(api: LiveAPI, installation: Installation) -> None:
    record(installation, 1)
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    api.admin.post("/organizations", {"name": "Rival", "permalink": "rival"})
    outsider = api.member("outsider@example.com", "rival", admin=True)
    dev = api.member("dev@example.com", "acme", servers="other")
    for client in (outsider, dev):
        assert client.get(f"{SERVER}/complaints").status == 404
    assert api.admin.as_(None).get(f"{SERVER}/complaints").status == 401
    assert dev.get("/organizations/acme/servers/other/complaints").body["data"] == []
