"""Incoming mail from the queue to its destination (reference §4.2-4.4): route modes, each endpoint
type and each class of result, bounce messages to the sender, and bounces of our own mail."""

from __future__ import annotations

import base64
import email
import json
import re
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from core.jobs.dequeue import process_queued_message
from core.messages.suppressions import get as suppression
from core.signing import signing_key
from core.tenancy.servers import find_server
from core.webhooks.requests import REQUESTS
from core.webhooks.subscriptions import create_webhook
from models.base import table
from models.endpoint import HTTPEndpoint
from tests.conftest import Installation
from tests.support.certs import self_signed
from tests.support.dns_server import Zone
from tests.support.http_receiver import HTTPReceiver
from tests.support.incoming import (
    INCOMING,
    address_endpoint,
    all_messages,
    http_endpoint,
    queued_row,
    receive,
    route,
    smtp_endpoint,
)
from tests.support.outgoing import message, run_queue, send
from tests.support.processes import free_port
from tests.support.smtp_sink import SMTPSink

DSN_DIR = Path(__file__).parents[2] / "data" / "dsn"


@pytest.fixture
def receiver() -> Iterator[HTTPReceiver]:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def process(installation: Installation, message_id: int) -> dict[str, Any]:
    row = queued_row(installation, message_id)
    assert row is not None, f"message {message_id} is not queued"
    process_queued_message(installation.runtime, row["id"])
    return message(installation, message_id)


def last_delivery(found: dict[str, Any]) -> dict[str, Any]:
    return found["deliveries"][-1]  # type: ignore[no-any-return]


# -- HTTP endpoints -------------------------------------------------------------------------------


def test_http_endpoint_gets_the_hash_as_json_signed(installation: Installation, receiver: HTTPReceiver) -> None:
    endpoint = http_endpoint(installation, receiver.url)
    route(installation, "support@example.com", endpoints=[endpoint])
    [mid] = receive(installation, "support+urgent@example.com")
    found = process(installation, mid)

    assert found["status"] == "Sent" and found["scope"] == "incoming"
    assert last_delivery(found)["details"] == f"Received a 200 from {receiver.url}"
    assert last_delivery(found)["output"] == "OK"
    assert queued_row(installation, mid) is None
    [request] = receiver.wait_for(1)
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["content-type"] == "application/json" and headers["user-agent"].startswith("Postal/")
    # Signed like webhooks: the signatures of exactly these bytes with the installation key.
    expected = signing_key(installation.runtime.config.signing_key_path).headers(request.body)
    assert {k.lower(): v for k, v in expected.items()} == {k: headers[k] for k in map(str.lower, expected)}
    body = json.loads(request.body)
    assert body["id"] == mid and body["token"] == found["token"]
    assert body["rcpt_to"] == "support+urgent@example.com" and body["mail_from"] == "sender@example.net"
    assert body["subject"] == "Help please" and body["message_id"] == "question-1@example.net"
    assert body["plain_body"].strip() == "My order has not arrived."
    assert body["spam_status"] == "NotChecked" and body["bounce"] is False
    with installation.runtime.db.engine.connect() as conn:
        used = conn.execute(select(table(HTTPEndpoint).c.last_used_at)).scalar()
    assert used is not None


def test_http_endpoint_form_data_raw_message(installation: Installation, receiver: HTTPReceiver) -> None:
    endpoint = http_endpoint(installation, receiver.url, encoding="FormData", format="RawMessage")
    route(installation, "support@example.com", endpoints=[endpoint])
    [mid] = receive(installation, "support@example.com")
    assert process(installation, mid)["status"] == "Sent"
    [request] = receiver.wait_for(1)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    assert form["rcpt_to"] == "support@example.com" and form["base64"] == "true"
    assert base64.b64decode(form["message"]) == INCOMING
    assert int(form["size"]) == len(INCOMING)


def test_http_5xx_is_retried(installation: Installation, receiver: HTTPReceiver) -> None:
    receiver.status = 503
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "SoftFail"
    assert last_delivery(found)["details"] == f"Received a 503 from {receiver.url}"
    row = queued_row(installation, mid)
    assert row is not None and row["attempts"] == 1 and row["retry_after"] is not None


def test_http_connection_error_is_retried(installation: Installation) -> None:
    url = f"http://127.0.0.1:{free_port()}/nothing-here"
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, url)])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "SoftFail" and last_delivery(found)["details"] == f"Received a -2 from {url}"
    assert queued_row(installation, mid)["retry_after"] is not None


def test_http_timeout_is_retried(installation: Installation, receiver: HTTPReceiver) -> None:
    receiver.delay = 7  # longer than the endpoint's 5 seconds
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url, timeout=5)])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "SoftFail" and last_delivery(found)["details"] == f"Received a -1 from {receiver.url}"
    assert last_delivery(found)["output"] == "Timed out after 5s"
    assert queued_row(installation, mid)["retry_after"] is not None


def test_http_429_fails_without_a_bounce(installation: Installation, receiver: HTTPReceiver) -> None:
    receiver.status = 429
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "HardFail" and last_delivery(found)["details"] == f"Received a 429 from {receiver.url}"
    assert queued_row(installation, mid) is None
    assert [m["id"] for m in all_messages(installation)] == [mid]


def test_http_4xx_fails_and_bounces_to_the_sender(
    installation: Installation, receiver: HTTPReceiver, smtp_sink: SMTPSink, zone: Zone
) -> None:
    receiver.status = 404
    receiver.response_body = b"no such mailbox"
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "HardFail"
    [_, bounce] = all_messages(installation)
    details = last_delivery(found)["details"]
    assert details == (
        f"Received a 404 from {receiver.url}. Sent bounce message to sender (see message <msg:{bounce['id']}>)"
    )
    assert bounce["scope"] == "outgoing" and bounce["bounce"] and bounce["bounce_for_id"] == mid
    assert bounce["rcpt_to"] == "sender@example.net" and bounce["subject"] == "Mail Delivery Failed (Help please)"

    # The bounce goes out with an empty MAIL FROM and the original attached.
    assert run_queue(installation) == 1
    [sent] = smtp_sink.wait_for(1)
    assert sent.mail_from == "<>" and sent.rcpt_tos == ["sender@example.net"]
    parsed = email.message_from_bytes(sent.data, policy=policy.default)
    assert parsed["From"] == "Mail Delivery Service <support@example.com>"
    [attached] = [p for p in parsed.walk() if p.get_filename() == "Original Message.eml"]
    assert b"My order has not arrived." in attached.as_bytes()


def test_too_many_attempts_bounce_to_the_sender(installation: Installation, receiver: HTTPReceiver) -> None:
    from sqlalchemy import update

    from models.queued_message import QueuedMessage

    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com")
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(table(QueuedMessage)).values(attempts=18))
    found = process(installation, mid)
    [_, bounce] = all_messages(installation)
    assert found["status"] == "HardFail" and receiver.requests == []
    assert last_delivery(found)["details"] == (
        "Maximum number of delivery attempts (18) has been reached. "
        f"Sent bounce message to sender (see message <msg:{bounce['id']}>)"
    )


# -- SMTP and address endpoints -------------------------------------------------------------------


def test_smtp_endpoint_forwards_with_the_original_envelope(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    zone.set("relay.example.com", "A", "127.0.0.1")
    endpoint = smtp_endpoint(installation, "relay.example.com", smtp_sink.port)
    route(installation, "support@example.com", endpoints=[endpoint])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "Sent", found["deliveries"]
    [forwarded] = smtp_sink.wait_for(1)
    assert forwarded.mail_from == "sender@example.net" and forwarded.rcpt_tos == ["support@example.com"]
    assert forwarded.data.endswith(b"My order has not arrived.\r\n")


def test_smtp_endpoint_requiring_starttls_refuses_a_server_without_it(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    zone.set("relay.example.com", "A", "127.0.0.1")
    endpoint = smtp_endpoint(installation, "relay.example.com", smtp_sink.port, "STARTTLS")
    route(installation, "support@example.com", endpoints=[endpoint])
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "SoftFail" and smtp_sink.messages == []
    assert "STARTTLS is required" in (last_delivery(found)["output"] or "")


def test_smtp_endpoint_starttls_is_verified(
    installation: Installation, zone: Zone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path, "relay.example.com")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = SMTPSink(tls_context=context).start()
    try:
        zone.set("relay.example.com", "A", "127.0.0.1")
        endpoint = smtp_endpoint(installation, "relay.example.com", sink.port, "STARTTLS")
        route(installation, "support@example.com", endpoints=[endpoint])
        # Not trusted yet: the certificate is refused and the message waits for a retry.
        [first] = receive(installation, "support@example.com")
        assert process(installation, first)["status"] == "SoftFail" and sink.messages == []
        # Trusted (as a real CA-signed certificate would be): delivered over TLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        [second] = receive(installation, "support@example.com")
        found = process(installation, second)
        assert found["status"] == "Sent" and last_delivery(found)["sent_with_ssl"]
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()


def test_smtp_endpoint_with_implicit_tls(
    installation: Installation, zone: Zone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path, "relay.example.com")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sink = SMTPSink(tls_context=context, implicit_tls=True).start()
    try:
        zone.set("relay.example.com", "A", "127.0.0.1")
        route(
            installation,
            "support@example.com",
            endpoints=[smtp_endpoint(installation, "relay.example.com", sink.port, "TLS")],
        )
        [mid] = receive(installation, "support@example.com")
        found = process(installation, mid)
        assert found["status"] == "Sent" and last_delivery(found)["sent_with_ssl"]
        assert sink.wait_for(1)[0].rcpt_tos == ["support@example.com"]
    finally:
        sink.stop()


def test_address_endpoint_sends_through_the_mx_of_the_address(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    zone.mail_domain("elsewhere.example")
    route(installation, "support@example.com", endpoints=[address_endpoint(installation, "team@elsewhere.example")])
    [mid] = receive(installation, "support@example.com")
    assert process(installation, mid)["status"] == "Sent"
    [forwarded] = smtp_sink.wait_for(1)
    assert forwarded.rcpt_tos == ["team@elsewhere.example"] and forwarded.mail_from == "sender@example.net"


def test_additional_endpoints_get_a_message_each(
    installation: Installation, receiver: HTTPReceiver, smtp_sink: SMTPSink, zone: Zone
) -> None:
    zone.mail_domain("elsewhere.example")
    endpoints = [http_endpoint(installation, receiver.url), address_endpoint(installation, "team@elsewhere.example")]
    route(installation, "support@example.com", endpoints=endpoints)
    ids = receive(installation, "support@example.com")
    assert len(ids) == 2
    assert [process(installation, mid)["status"] for mid in ids] == ["Sent", "Sent"]
    assert len(receiver.wait_for(1)) == 1 and len(smtp_sink.wait_for(1)) == 1


# -- route modes ----------------------------------------------------------------------------------


def test_accept_mode_processes_without_delivering(installation: Installation) -> None:
    route(installation, "support@example.com", mode="Accept")
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "Processed"
    assert last_delivery(found)["details"] == "Message has been accepted but not sent to any endpoints."


def test_hold_mode_holds_until_released(installation: Installation) -> None:
    from core.queue.actions import apply

    route(installation, "*@example.com", mode="Hold")
    [mid] = receive(installation, "anyone@example.com")
    found = process(installation, mid)
    assert found["status"] == "Held" and found["held"]
    assert last_delivery(found)["details"] == "Message has been accepted but not sent to any endpoints."
    [result] = apply(installation.runtime, installation.server_id, "retry", [mid])
    assert result.done, result
    run_queue(installation)
    found = message(installation, mid)
    assert found["status"] == "Processed" and last_delivery(found)["details"] == "Message has been processed."


def test_bounce_mode_bounces_to_the_sender(installation: Installation) -> None:
    route(installation, "support@example.com", mode="Bounce")
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    [_, bounce] = all_messages(installation)
    assert found["status"] == "HardFail"
    assert last_delivery(found)["details"] == (
        f"Message has been bounced because the route asks for this. See message <msg:{bounce['id']}>"
    )
    assert bounce["bounce"] and bounce["rcpt_to"] == "sender@example.net"


def test_bounce_mode_without_a_sender_drops_the_row_only(installation: Installation) -> None:
    route(installation, "support@example.com", mode="Bounce")
    [mid] = receive(installation, "support@example.com", mail_from="")
    found = process(installation, mid)
    assert found["status"] == "Pending" and found["deliveries"] == []
    assert queued_row(installation, mid) is None and len(all_messages(installation)) == 1


def test_a_message_whose_endpoint_is_gone_fails(installation: Installation, receiver: HTTPReceiver) -> None:
    route(installation, "support@example.com", endpoints=[http_endpoint(installation, receiver.url)])
    [mid] = receive(installation, "support@example.com")
    # Gone between acceptance and processing (deleting it through Postal's rules would also have
    # turned the route to Reject, which later mail would meet at RCPT time).
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(delete(table(HTTPEndpoint)))
    found = process(installation, mid)
    assert found["status"] == "HardFail"
    assert last_delivery(found)["details"].startswith("Invalid endpoint for route.")


def test_development_mode_holds_incoming_mail(installation: Installation) -> None:
    from tests.support.outgoing import change_server

    route(installation, "support@example.com", mode="Accept")
    change_server(installation, mode="Development")
    [mid] = receive(installation, "support@example.com")
    found = process(installation, mid)
    assert found["status"] == "Held" and last_delivery(found)["details"] == "Server is in development mode."


# -- bounces of our own mail ----------------------------------------------------------------------


def dsn_for(name: str, original_token: str | None, recipient: str) -> bytes:
    """A real DSN from the test data, made to be about our message: its failed recipient replaced
    by ours and the X-Postal-MsgID quoted from the original replaced by our message's token (or
    removed, for a bounce that drops the original's headers)."""
    raw = (DSN_DIR / name).read_bytes()
    for old in set(re.findall(rb"Final-Recipient: *rfc822; *([^\s]+)", raw, re.I)):
        raw = raw.replace(old, recipient.encode())
    if original_token is None:
        return re.sub(rb"X-Postal-MsgID: *[A-Za-z0-9]+\r?\n", b"", raw)
    return re.sub(rb"(X-Postal-MsgID: *)[A-Za-z0-9]+", rb"\g<1>" + original_token.encode(), raw)


def test_a_dsn_is_linked_to_its_original(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    with installation.runtime.db.transaction() as session:
        create_webhook(session, find_server(session, installation.server_ref), receiver.url, "hook", ["MessageBounced"])
    installation.runtime.servers.forget()
    send(installation, "c@example.net")
    run_queue(installation)
    original = message(installation, 1)
    assert original["status"] == "Sent"

    raw = dsn_for("01-postfix-hard-5.1.1-user-unknown.eml", original["token"], "c@example.net")
    [bounce_id] = receive(installation, f"{installation.server_token}@rp.postal.test", raw, mail_from="")
    found = process(installation, bounce_id)

    assert found["status"] == "Processed" and found["bounce"] and found["bounce_for_id"] == 1
    assert last_delivery(found)["details"] == "This has been detected as a bounce message for <msg:1>."
    original = message(installation, 1)
    assert original["status"] == "Bounced"
    assert last_delivery(original)["details"] == (
        f"We've received a bounce message for this e-mail. See <msg:{bounce_id}> for details."
    )
    # A hard bounce: the recipient is suppressed.
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        entry = suppression(conn, "c@example.net", time.time())
    assert entry is not None and entry.reason == "hard bounce"
    # And the MessageBounced webhook carries both messages.
    with installation.runtime.db.engine.connect() as conn:
        [request] = conn.execute(select(REQUESTS)).mappings().all()
    payload = json.loads(request["payload"])
    assert request["event"] == "MessageBounced"
    assert payload["original_message"]["id"] == 1 and payload["bounce"]["id"] == bounce_id


def test_a_bounce_without_our_header_is_linked_by_its_return_path(installation: Installation) -> None:
    send(installation, "c@example.net")
    run_queue(installation)
    token = message(installation, 1)["token"]
    raw = dsn_for("08-haraka-hard-5.1.1-user-unknown.eml", None, "c@example.net")
    assert b"X-Postal-MsgID" not in raw
    [bounce_id] = receive(installation, f"{installation.server_token}+{token}@rp.postal.test", raw, mail_from="")
    found = process(installation, bounce_id)
    assert found["bounce_for_id"] == 1 and message(installation, 1)["status"] == "Bounced"


def test_a_delay_warning_is_linked_but_is_not_a_bounce(installation: Installation) -> None:
    send(installation, "c@example.net")
    run_queue(installation)
    token = message(installation, 1)["token"]
    raw = dsn_for("05-postfix-delayed-4.2.2-delay-warning.eml", token, "c@example.net")
    [bounce_id] = receive(installation, f"{installation.server_token}@rp.postal.test", raw, mail_from="")
    found = process(installation, bounce_id)
    assert found["status"] == "Processed" and found["bounce_for_id"] == 1
    assert message(installation, 1)["status"] == "Sent"


def test_an_unlinked_bounce_without_a_return_path_route_fails(installation: Installation) -> None:
    raw = dsn_for("01-postfix-hard-5.1.1-user-unknown.eml", None, "c@example.net")
    [bounce_id] = receive(installation, f"{installation.server_token}@rp.postal.test", raw, mail_from="")
    found = process(installation, bounce_id)
    assert found["status"] == "HardFail"
    assert last_delivery(found)["details"] == (
        "This message was a bounce but we couldn't link it with any outgoing message and there was no route for it."
    )


def test_an_unlinked_bounce_goes_to_the_return_path_route(installation: Installation, receiver: HTTPReceiver) -> None:
    route(installation, "__returnpath__", endpoints=[http_endpoint(installation, receiver.url)])
    raw = dsn_for("01-postfix-hard-5.1.1-user-unknown.eml", None, "c@example.net")
    [bounce_id] = receive(installation, f"{installation.server_token}@rp.postal.test", raw, mail_from="")
    found = process(installation, bounce_id)
    assert found["status"] == "Sent"
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["bounce"] is True and body["id"] == bounce_id
