"""Webhooks over real HTTP: the events of delivery outcomes, Postal's body and signatures
(verifiable with the key published at /.well-known/jwks.json), retries and history."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select, update

from core.queue.queued_messages import locker_name
from core.tenancy.servers import find_server
from core.webhooks.requests import REQUESTS, deliver_request, history, resend
from core.webhooks.subscriptions import create_webhook
from models.enums import ServerMode
from scheduler.requeuer import requeue
from tests.conftest import Installation
from tests.support.http_receiver import HTTPReceiver
from tests.support.outgoing import change_server, run_queue, send
from tests.support.processes import free_port
from tests.support.smtp_sink import SMTPSink
from web.app import create_app
from web.server import start_threaded


@pytest.fixture
def receiver() -> Iterator[HTTPReceiver]:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def add_webhook(installation: Installation, url: str, events: list[str] | None = None) -> None:
    with installation.runtime.db.transaction() as session:
        create_webhook(session, find_server(session, installation.server_ref), url, "hook", events)
    installation.runtime.servers.forget()


def pending(installation: Installation) -> list[Any]:
    with installation.runtime.db.engine.connect() as conn:
        return list(conn.execute(select(REQUESTS).order_by(REQUESTS.c.id)).mappings())


def deliver_all(installation: Installation) -> None:
    for row in pending(installation):
        deliver_request(installation.runtime, row["id"], locker_name())


def jwks(installation: Installation) -> dict[str, Any]:
    port = free_port()
    server = start_threaded(create_app(installation.runtime), "127.0.0.1", port, installation.runtime.config)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/jwks.json", timeout=10) as response:
            return json.load(response)  # type: ignore[no-any-return]
    finally:
        server.shutdown()


def public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    def number(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")

    return rsa.RSAPublicNumbers(number(jwk["e"]), number(jwk["n"])).public_key()


def test_a_sent_message_is_posted_signed(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    add_webhook(installation, receiver.url)
    send(installation, "c@example.net")
    run_queue(installation)
    [row] = pending(installation)
    assert row["event"] == "MessageSent" and row["attempts"] == 0 and row["url"] == receiver.url

    deliver_all(installation)
    [request] = receiver.wait_for(1)
    body = json.loads(request.body)
    assert set(body) == {"event", "timestamp", "payload", "uuid"}
    assert body["event"] == "MessageSent" and body["uuid"] == row["uuid"]
    payload = body["payload"]
    assert payload["status"] == "Sent" and payload["details"].startswith("Message for c@example.net accepted by")
    assert payload["output"] == "250 2.0.0 Ok: queued" and payload["sent_with_ssl"] is False
    assert set(payload) == {"message", "status", "details", "output", "sent_with_ssl", "timestamp", "time"}
    assert payload["message"] | {"id": 0, "token": "", "timestamp": 0} == {
        "id": 0,
        "token": "",
        "direction": "outgoing",
        "message_id": payload["message"]["message_id"],
        "to": "c@example.net",
        "from": "orders@example.com",
        "subject": "Hi",
        "timestamp": 0,
        "spam_status": "NotChecked",
        "tag": None,
    }
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json" and headers["user-agent"].startswith("Postal/")

    # The signatures verify with the public key the web server publishes.
    [key] = jwks(installation)["keys"]
    assert key["kid"] == headers["x-postal-signature-kid"] and len(key["kid"]) == 64
    verifier = public_key(key)
    verifier.verify(
        base64.b64decode(headers["x-postal-signature-256"]), request.body, padding.PKCS1v15(), hashes.SHA256()
    )
    verifier.verify(base64.b64decode(headers["x-postal-signature"]), request.body, padding.PKCS1v15(), hashes.SHA1())

    assert pending(installation) == []
    [attempt] = history(installation.runtime, installation.server_id)
    assert (attempt["status_code"], attempt["will_retry"], attempt["body"]) == (200, False, "OK")
    assert attempt["uuid"] == row["uuid"] and attempt["event"] == "MessageSent"


@pytest.mark.parametrize(
    ("reply", "event", "status"),
    [
        ("451 4.3.0 later", "MessageDelayed", "SoftFail"),
        ("550 5.1.1 unknown", "MessageDeliveryFailed", "HardFail"),
    ],
)
def test_failures_fire_their_events(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver, reply: str, event: str, status: str
) -> None:
    add_webhook(installation, receiver.url)
    smtp_sink.handler.rcpt_replies["c@example.net"] = reply
    send(installation, "c@example.net")
    run_queue(installation)
    deliver_all(installation)
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["event"] == event and body["payload"]["status"] == status and body["payload"]["output"] == reply


def test_a_hold_fires_message_held_and_subscriptions_filter_events(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    add_webhook(installation, receiver.url, ["MessageHeld"])
    send(installation, "a@example.net")  # sent: not subscribed
    run_queue(installation)
    assert pending(installation) == []

    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, "b@example.net")
    run_queue(installation)
    [row] = pending(installation)
    assert row["event"] == "MessageHeld"
    deliver_all(installation)
    assert json.loads(receiver.wait_for(1)[0].body)["payload"]["details"] == "Server is in development mode."


def test_failed_requests_are_retried_with_back_off_and_given_up_after_the_window(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    add_webhook(installation, receiver.url)
    receiver.status = 500
    send(installation, "c@example.net")
    run_queue(installation)
    before = installation.runtime.clock()
    deliver_all(installation)
    [row] = pending(installation)
    assert row["attempts"] == 1 and row["error"] == "Couldn't send to URL. Code received was 500"
    assert 115 <= (row["retry_after"] - before).total_seconds() <= 125  # 2 minutes first
    assert row["locked_by"] is None and row["published_at"] is None
    [attempt] = history(installation.runtime, installation.server_id)
    assert attempt["status_code"] == 500 and attempt["will_retry"] is True

    # A job before its time does nothing; the requeuer publishes it once it is due.
    deliver_all(installation)
    assert len(receiver.requests) == 1
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(REQUESTS).values(retry_after=before))
    assert requeue(installation.runtime) == 1
    deliver_all(installation)
    [row] = pending(installation)
    assert row["attempts"] == 2
    assert 235 <= (row["retry_after"] - installation.runtime.clock()).total_seconds() <= 245  # then 4

    # A day after the event there are no more retries.
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(REQUESTS).values(retry_after=None, created_at=before - dt.timedelta(hours=24, minutes=1)))
    deliver_all(installation)
    assert pending(installation) == []
    assert [a["will_retry"] for a in history(installation.runtime, installation.server_id)] == [False, True, True]

    # It can still be sent again by hand, with the same uuid.
    receiver.status = 200
    uuid = history(installation.runtime, installation.server_id)[0]["uuid"]
    resend(installation.runtime, installation.server_id, uuid)
    deliver_all(installation)
    assert json.loads(receiver.requests[-1].body)["uuid"] == uuid
    assert history(installation.runtime, installation.server_id)[0]["status_code"] == 200


def test_an_unreachable_or_slow_receiver_is_a_failure_not_a_crash(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    add_webhook(installation, f"http://127.0.0.1:{free_port()}/nothing")
    runtime = installation.runtime
    send(installation, "c@example.net")
    run_queue(installation)
    deliver_all(installation)
    [attempt] = history(runtime, installation.server_id)
    assert attempt["status_code"] == -2 and attempt["will_retry"]
