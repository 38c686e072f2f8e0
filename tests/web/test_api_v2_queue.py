"""The queue and held messages over the management API: listing them, and release, cancel,
retry and remove on one message and in bulk by filter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from models.enums import ServerMode
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.outgoing import change_server, message, run_queue, send
from tests.support.smtp_sink import SMTPSink

SERVER = "/organizations/acme/servers/main"
MESSAGES = f"{SERVER}/messages"


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


@pytest.fixture
def three_held(installation: Installation, smtp_sink: SMTPSink, zone: Any) -> None:
    """Messages 1 and 2 to one.example and 3 to two.example, held by development mode."""
    for domain in ("one.example", "two.example"):
        zone.mail_domain(domain)
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, "a@one.example", "b@one.example", "c@two.example")
    run_queue(installation)
    change_server(installation, mode=ServerMode.LIVE)


def test_held_messages_are_listed_released_in_bulk_and_cancelled(
    api: LiveAPI, installation: Installation, three_held: None
) -> None:
    held = api.admin.get(f"{MESSAGES}/held").body
    assert [(m["id"], m["status"], m["held"]) for m in held["data"]] == [(3, "Held", True), (2, "Held", True),
                                                                          (1, "Held", True)]  # fmt: skip
    assert api.admin.get(f"{SERVER}/queue").body == {"data": [], "next_cursor": None}

    released = api.admin.post(
        f"{MESSAGES}/bulk", {"action": "release", "held": True, "recipient_domain": "one.example"}
    ).body
    assert released == {
        "action": "release",
        "count": 2,
        "messages": [{"id": 1, "done": True, "result": "queued to run now"},
                     {"id": 2, "done": True, "result": "queued to run now"}],
    }  # fmt: skip
    queue = api.admin.get(f"{SERVER}/queue").body["data"]
    assert [(q["message_id"], q["attempts"], q["retry_after"], q["locked"], q["manual"]) for q in queue] == [
        (1, 0, None, False, True), (2, 0, None, False, True),
    ]  # fmt: skip
    assert queue[0]["message"]["rcpt_to"] == "a@one.example"
    assert api.admin.get(f"{MESSAGES}/1").body["queued"]["id"] == queue[0]["id"]
    run_queue(installation)
    assert [message(installation, i)["status"] for i in (1, 2, 3)] == ["Sent", "Sent", "Held"]

    cancelled = api.admin.post(f"{MESSAGES}/3/cancel").body
    assert cancelled == {
        "action": "cancel",
        "count": 1,
        "messages": [{"id": 3, "done": True, "result": "hold cancelled"}],
    }
    again = api.admin.post(f"{MESSAGES}/3/cancel").body
    assert (again["count"], again["messages"][0]["result"]) == (0, "not held")
    assert api.admin.get(f"{MESSAGES}/held").body["data"] == []
    assert message(installation, 3)["status"] == "HoldCancelled"


def test_one_message_is_retried_and_removed(api: LiveAPI, installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["a@example.net"] = "451 4.3.0 try later"
    send(installation, "a@example.net")
    run_queue(installation)
    [waiting] = api.admin.get(f"{SERVER}/queue").body["data"]
    assert (waiting["message_id"], waiting["attempts"], waiting["locked"]) == (1, 1, False)
    assert waiting["retry_after"] is not None and waiting["message"]["status"] == "SoftFail"

    retried = api.admin.post(f"{MESSAGES}/1/retry").body
    assert (retried["count"], retried["messages"][0]["result"]) == (1, "queued to run now")
    assert api.admin.get(f"{SERVER}/queue").body["data"][0]["retry_after"] is None

    removed = api.admin.post(f"{MESSAGES}/1/remove").body
    assert (removed["count"], removed["messages"][0]["result"]) == (1, "removed from the queue")
    assert api.admin.get(f"{SERVER}/queue").body["data"] == []
    assert api.admin.post(f"{MESSAGES}/1/release").body["messages"][0] == {"id": 1, "done": False, "result": "not held"}
    assert api.admin.post(f"{MESSAGES}/999/retry").status == 404


def test_bulk_actions_by_status_and_ids(api: LiveAPI, installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["a@example.net"] = "550 5.1.1 unknown"
    smtp_sink.handler.rcpt_replies["b@example.net"] = "550 5.1.1 unknown"
    send(installation, "a@example.net", "b@example.net", "c@example.net")
    run_queue(installation)
    smtp_sink.handler.rcpt_replies.clear()

    retried = api.admin.post(f"{MESSAGES}/bulk", {"action": "retry", "status": "HardFail"}).body
    assert (retried["count"], [m["id"] for m in retried["messages"]]) == (2, [1, 2])
    run_queue(installation)
    assert [message(installation, i)["status"] for i in (1, 2, 3)] == ["Sent", "Sent", "Sent"]

    by_ids = api.admin.post(f"{MESSAGES}/bulk", {"action": "retry", "ids": [3, 77]}).body
    assert by_ids["messages"] == [{"id": 3, "done": False, "result": "status Sent cannot be retried"},
                                  {"id": 77, "done": False, "result": "no such message"}]  # fmt: skip
    nothing = api.admin.post(f"{MESSAGES}/bulk", {"action": "remove"})
    assert (nothing.status, nothing.code) == (422, "validation_failed")
    assert api.admin.post(f"{MESSAGES}/bulk", {"action": "explode", "ids": [1]}).code == "invalid_request"
    assert api.admin.post(f"{MESSAGES}/bulk", {"action": "remove", "queued": True}).body["count"] == 0


def test_another_tenants_queue_does_not_exist(api: LiveAPI, installation: Installation, three_held: None) -> None:
    api.admin.post("/organizations", {"name": "Globex", "permalink": "globex"})
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    outsider = api.member("eve@example.com", "globex", admin=True)
    other_only = api.member("dev@example.com", "acme", servers="other")
    member = api.member("ann@example.com", "acme", servers="main")

    for client in (outsider, other_only):
        for path in (f"{SERVER}/queue", f"{MESSAGES}/held"):
            assert client.get(path).status == 404, path
        assert client.post(f"{MESSAGES}/1/release").status == 404
        assert client.post(f"{MESSAGES}/bulk", {"action": "release", "held": True}).status == 404
    assert [message(installation, i)["held"] for i in (1, 2, 3)] == [True, True, True]
    # The other server of the organization has none of these messages.
    other = api.admin.post("/organizations/acme/servers/other/messages/bulk", {"action": "cancel", "ids": [1]}).body
    assert other["messages"] == [{"id": 1, "done": False, "result": "no such message"}]
    assert member.post(f"{MESSAGES}/bulk", {"action": "cancel", "held": True}).body["count"] == 3


def test_held_and_queued_messages_are_filtered_as_bulk_actions_choose_them(
    api: LiveAPI, installation: Installation, three_held: None
) -> None:
    def held(query: str) -> list[int]:
        reply = api.admin.get(f"{MESSAGES}/held?{query}")
        assert reply.status == 200, reply.body
        return [m["id"] for m in reply.body["data"]]

    assert held("recipient_domain=ONE.example") == [2, 1]
    assert held("recipient_domain=two.example") == [3]
    assert held("older_than=0") == [3, 2, 1]
    assert held("older_than=86400") == []
    assert api.admin.get(f"{MESSAGES}/held?older_than=soon").code == "invalid_request"

    api.admin.post(f"{MESSAGES}/bulk", {"action": "release", "held": True})
    queue = api.admin.get(f"{SERVER}/queue?recipient_domain=one.EXAMPLE").body["data"]
    assert [q["message_id"] for q in queue] == [1, 2]
    assert api.admin.get(f"{SERVER}/queue?recipient_domain=three.example").body["data"] == []
