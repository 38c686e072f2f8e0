"""Webhooks over the management API: subscriptions, the history of real requests to a receiver
on 127.0.0.1, sending one again, and nothing visible across tenants."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.queue.queued_messages import locker_name
from core.webhooks.requests import REQUESTS, deliver_request
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.http_receiver import HTTPReceiver
from tests.support.outgoing import run_queue, send
from tests.support.smtp_sink import SMTPSink

SERVER = "/organizations/acme/servers/main"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


@pytest.fixture
def receiver() -> Iterator[HTTPReceiver]:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def deliver_pending(installation: Installation) -> None:
    with installation.runtime.db.engine.connect() as conn:
        ids = list(conn.execute(select(REQUESTS.c.id).order_by(REQUESTS.c.id)).scalars())
    for request_id in ids:
        deliver_request(installation.runtime, request_id, locker_name())


def test_webhooks_are_created_changed_and_deleted(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme", servers="main")

    created = dev.post(f"{SERVER}/webhooks", {"url": "https://hooks.example.com/postal"})
    assert created.status == 201
    hook = created.body
    assert (hook["name"], hook["all_events"], hook["events"], hook["enabled"]) == (
        "hooks.example.com", True, [], True,
    )  # fmt: skip
    picky = dev.post(
        f"{SERVER}/webhooks",
        {"url": "http://a.example/", "name": "Bounces", "events": ["MessageBounced", "MessageHeld"], "enabled": False},
    ).body
    assert (picky["all_events"], picky["events"], picky["enabled"]) == (False, ["MessageBounced", "MessageHeld"], False)

    path = f"{SERVER}/webhooks/{hook['uuid']}"
    changed = dev.patch(path, {"name": "Renamed", "events": ["MessageSent"], "enabled": False})
    assert changed.status == 200
    assert (changed.body["name"], changed.body["all_events"], changed.body["events"], changed.body["enabled"]) == (
        "Renamed", False, ["MessageSent"], False,
    )  # fmt: skip
    assert dev.get(path).body == changed.body
    assert dev.patch(path, {"events": []}).body["all_events"] is True

    for method, url, body, field in [
        ("POST", f"{SERVER}/webhooks", {"url": "ftp://example.com/"}, "url"),
        ("PATCH", path, {"url": "not a url"}, "url"),
        ("PATCH", path, {"name": " "}, "name"),
    ]:
        reply = dev.request(method, url, body)
        assert (reply.status, reply.body["error"]["details"][0]["field"]) == (422, field), body
    reply = dev.post(f"{SERVER}/webhooks", {"url": "https://x.example/", "events": ["NoSuchEvent"]})
    assert (reply.status, reply.body["error"]["details"][0]["field"]) == (400, "events[0]")

    listed = dev.get(f"{SERVER}/webhooks?limit=1").body
    assert [h["uuid"] for h in listed["data"]] == [hook["uuid"]] and listed["next_cursor"]
    following = dev.get(f"{SERVER}/webhooks?limit=1&cursor={listed['next_cursor']}").body
    assert [h["uuid"] for h in following["data"]] == [picky["uuid"]]
    assert dev.delete(path).status == 204 and dev.get(path).status == 404


def test_history_and_resend_of_real_requests(
    api: LiveAPI, installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    dev = api.member("dev@example.com", "acme", servers="main")
    hook = dev.post(f"{SERVER}/webhooks", {"url": receiver.url, "events": ["MessageSent"]}).body
    path = f"{SERVER}/webhooks/{hook['uuid']}"
    assert dev.get(f"{path}/history").body == {"data": [], "next_cursor": None}

    # Given a message delivered and its MessageSent request made, refused once, then accepted.
    send(installation, "someone@example.net")
    run_queue(installation)
    receiver.status = 500
    deliver_pending(installation)
    receiver.status = 200
    [failed] = dev.get(f"{path}/history").body["data"]
    assert (failed["event"], failed["status_code"], failed["will_retry"], failed["attempt"]) == (
        "MessageSent", 500, True, 1,
    )  # fmt: skip
    assert failed["payload"]["message"]["to"] == "someone@example.net"
    assert dev.get(f"{path}/history/{failed['id']}").body == failed

    # When it is sent again, the same request (same uuid) goes out at once.
    resent = dev.post(f"{path}/history/{failed['id']}/resend")
    assert resent.status == 202 and resent.body["uuid"] == failed["uuid"]
    deliver_pending(installation)
    assert json.loads(receiver.requests[-1].body)["uuid"] == failed["uuid"]
    first = dev.get(f"{path}/history?limit=1").body
    assert first["data"][0]["status_code"] == 200 and first["next_cursor"]
    assert dev.get(f"{path}/history?cursor={first['next_cursor']}").body["data"] == [failed]

    assert dev.get(f"{path}/history/999999").status == 404
    assert dev.post(f"{path}/history/abc/resend").status == 404
    assert dev.get(f"{path}/history?cursor=nonsense").code == "invalid_cursor"


def test_webhooks_are_invisible_across_tenants(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    api.admin.post("/organizations", {"name": "Rival", "permalink": "rival"})
    outsider = api.member("outsider@example.com", "rival", admin=True)
    dev = api.member("dev@example.com", "acme", servers="other")
    hook = api.admin.post(f"{SERVER}/webhooks", {"url": "https://hooks.example.com/"}).body

    for client in (outsider, dev):
        assert client.get(f"{SERVER}/webhooks").status == 404
        assert client.patch(f"{SERVER}/webhooks/{hook['uuid']}", {"enabled": False}).status == 404
        assert client.get(f"{SERVER}/webhooks/{hook['uuid']}/history").status == 404
    assert dev.get(f"/organizations/acme/servers/other/webhooks/{hook['uuid']}").status == 404
    assert dev.delete(f"/organizations/acme/servers/other/webhooks/{hook['uuid']}").status == 404
    assert api.admin.get(f"{SERVER}/webhooks/{hook['uuid']}").body["enabled"] is True
