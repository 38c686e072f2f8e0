"""Every sample of tests/data/return_path through the product: an original sent, the sample
about it delivered over SMTP to the server's return path, the queue run as the worker would, and
then what `message show` and `suppression list` say. A bounce marks the original Bounced and
suppresses its recipient if hard; a delay warning, a receipt or an automatic reply is linked and
noted in the original's activity, and changes nothing else; a complaint (a feedback report) at
the return path or at a feedback-loop address suppresses the recipient, is listed by `complaint
list` and fires `MessageComplaint` for the webhooks that choose it by name only."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core.messages import complaints
from core.tenancy.servers import find_server
from core.webhooks.requests import REQUESTS
from core.webhooks.subscriptions import create_webhook
from models.base import table
from models.queued_message import QueuedMessage
from models.webhook import Webhook
from tests.conftest import Installation
from tests.support.cli import CLI
from tests.support.http_receiver import HTTPReceiver
from tests.support.incoming import http_endpoint, route
from tests.support.outgoing import message, run_queue, send
from tests.support.smtp_server import running_smtp_server
from tests.support.smtp_sink import SMTPSink

DATA = Path(__file__).parents[2] / "data" / "return_path"
SAMPLES: list[dict[str, Any]] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))["samples"]
WEBHOOKS = table(Webhook)
QM = table(QueuedMessage)


@pytest.fixture
def receiver() -> Iterator[HTTPReceiver]:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def local(address: str) -> str:
    """The samples' remote.example.net is example.net here, which the test DNS gives our sink."""
    return address.replace("@remote.example.net", "@example.net")


def recipient_of(sample: dict[str, Any]) -> str:
    """Whom our original goes to: the first recipient the report names (each of our messages has
    one recipient), or the hand-written samples' unknown@."""
    return local(sample["recipients"][0]["address"] if sample["recipients"] else "unknown@remote.example.net")


def about(sample: dict[str, Any], token: str) -> bytes:
    """The sample made to be about our original: its recipients and its quoted X-Postal-MsgID."""
    raw = (DATA / sample["file"]).read_bytes()
    return raw.replace(b"@remote.example.net", b"@example.net").replace(
        sample["x_postal_msgid"].encode(), token.encode()
    )


def deliver_to_return_path(installation: Installation, raw: bytes, to: str = "return path") -> None:
    address = f"{installation.server_token}@rp.postal.test" if to == "return path" else to
    with running_smtp_server(installation.runtime) as port, smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("mx.remote.example.net")
        client.sendmail("", [address], raw)


def subscribe(installation: Installation, url: str, name: str, events: list[str]) -> None:
    with installation.runtime.db.transaction() as session:
        create_webhook(session, find_server(session, installation.server_ref), url, name, events)
    installation.runtime.servers.forget()


def requests(installation: Installation) -> list[tuple[str, str]]:
    """(webhook name, event) of every webhook request made."""
    with installation.runtime.db.engine.connect() as conn:
        rows = conn.execute(
            select(WEBHOOKS.c.name, REQUESTS.c.event).join(WEBHOOKS, WEBHOOKS.c.id == REQUESTS.c.webhook_id)
        ).all()
    return sorted((str(name), str(event)) for name, event in rows)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample["file"][:3])
def test_sample_through_the_product(
    installation: Installation, smtp_sink: SMTPSink, cli: CLI, sample: dict[str, Any]
) -> None:
    subscribe(installation, "https://hooks.example.com/all", "all", [])
    subscribe(installation, "https://hooks.example.com/named", "named", ["MessageComplaint", "MessageBounced"])
    rcpt = recipient_of(sample)
    send(installation, rcpt)
    run_queue(installation)
    assert message(installation, 1)["status"] == "Sent"
    before = requests(installation)
    if sample["delivered_to"] != "return path":
        route(installation, sample["delivered_to"], mode="Accept")

    deliver_to_return_path(installation, about(sample, message(installation, 1)["token"]), sample["delivered_to"])
    assert run_queue(installation) == 1

    ref = installation.server_ref
    original = cli.json("message", "show", ref, "1")
    report = cli.json("message", "show", ref, "2")
    at_return_path = sample["delivered_to"] == "return path"
    assert report["details"]["bounce"] is at_return_path
    assert report["details"]["bounce_for_id"] == (1 if at_return_path else 0)
    last = original["deliveries"][-1]["details"]
    suppressed = [(s["address"], s["reason"]) for s in cli.json("suppression", "list", ref)["suppressions"]]
    listed = cli.json("complaint", "list", ref)
    new_requests = [r for r in requests(installation) if r not in before]
    if sample["is_bounce"]:
        assert original["status"]["status"] == "Bounced"
        assert last == "We've received a bounce message for this e-mail. See <msg:2> for details."
        assert suppressed == ([(rcpt, "hard bounce")] if rcpt in map(local, sample["suppressed"]) else [])
        assert new_requests == [("all", "MessageBounced"), ("named", "MessageBounced")]
    elif sample["category"] in ("complaint", "feedback"):
        assert original["status"]["status"] == "Sent"
        what = "a complaint" if sample["category"] == "complaint" else f"a feedback report ({sample['feedback_type']})"
        assert last == f"We've received {what} from {sample['user_agent']} about this e-mail. See <msg:2> for details."
        if sample["category"] == "complaint":
            assert suppressed == [(rcpt, "complaint")]
            [entry] = listed["complaints"]
            assert (entry["message_id"], entry["report_message_id"], entry["address"]) == (1, 2, rcpt)
            assert entry["feedback_type"] == sample["feedback_type"] and listed["total"] == 1
            # Only the webhook that chose it by name: "all events" keeps Postal's eight.
            assert new_requests == [("named", "MessageComplaint")]
        else:
            assert suppressed == [] and listed["total"] == 0 and new_requests == []
    else:
        assert original["status"]["status"] == "Sent"
        what = {"auto_reply": "an automatic reply", "delay": "a delay warning", "success": "a delivery report"}
        assert last == f"We've received {what[sample['category']]} for this e-mail. See <msg:2> for details."
        assert suppressed == [] and new_requests == []


def test_an_auto_reply_goes_on_to_the_return_path_route(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    """As Postal does with return-path mail that is no bounce: linked, then the route's."""
    route(installation, "__returnpath__", endpoints=[http_endpoint(installation, receiver.url)])
    [ooo] = [s for s in SAMPLES if s["file"].startswith("h02")]
    send(installation, recipient_of(ooo))
    run_queue(installation)
    deliver_to_return_path(installation, about(ooo, message(installation, 1)["token"]))
    run_queue(installation)
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["bounce"] is True and body["id"] == 2
    reply = message(installation, 2)
    assert reply["status"] == "Sent" and reply["bounce_for_id"] == 1
    assert message(installation, 1)["status"] == "Sent"


def retry_now(installation: Installation) -> None:
    """Make every row waiting for a retry due now (as the retry time passing would)."""
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(QM).values(retry_after=None))


@pytest.mark.parametrize("file", ["h10", "h02"])
def test_what_goes_on_to_a_route_is_linked_once_however_often_its_delivery_is_retried(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver, file: str
) -> None:
    """A complaint at a feedback-loop address, and an automatic reply at the return path, whose
    route's endpoint is down at first: the retry delivers it, and links, notes, suppresses and
    fires nothing a second time."""
    [sample] = [s for s in SAMPLES if s["file"].startswith(file)]
    endpoint = http_endpoint(installation, receiver.url)
    address = "__returnpath__" if sample["delivered_to"] == "return path" else sample["delivered_to"]
    route(installation, address, endpoints=[endpoint])
    subscribe(installation, "https://hooks.example.com/named", "named", ["MessageComplaint"])
    rcpt = recipient_of(sample)
    send(installation, rcpt)
    run_queue(installation)

    receiver.status = 500
    deliver_to_return_path(installation, about(sample, message(installation, 1)["token"]), sample["delivered_to"])
    run_queue(installation)
    assert message(installation, 2)["status"] == "SoftFail"
    receiver.status = 200
    retry_now(installation)
    run_queue(installation)
    assert message(installation, 2)["status"] == "Sent"
    assert len(receiver.wait_for(2)) == 2

    notes = [d for d in message(installation, 1)["deliveries"] if d["details"].startswith("We've received")]
    assert len(notes) == 1 and message(installation, 1)["status"] == "Sent"
    with installation.runtime.message_dbs.get(installation.server_id).reader.connect() as conn:
        recorded = complaints.count(conn)
    assert recorded == (1 if sample["category"] == "complaint" else 0)
    expected = [("named", "MessageComplaint")] if sample["category"] == "complaint" else []
    assert requests(installation) == expected
