"""The Credentials and Webhooks tabs over HTTP: credentials of each type, webhooks and their
events, the history of real requests to a receiver on 127.0.0.1 and sending one again, form
errors, and nothing visible across tenants."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.queue.queued_messages import locker_name
from core.runtime import Runtime
from core.tenancy.organizations import create_organization
from core.webhooks.requests import REQUESTS, deliver_request
from tests.conftest import Installation
from tests.support.http_receiver import HTTPReceiver
from tests.support.outgoing import run_queue, send
from tests.support.ui import Browser, Site

SERVER = "/org/acme/servers/main"
UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"


@pytest.fixture
def receiver() -> Iterator[HTTPReceiver]:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def deliver_pending(installation: Installation) -> None:
    """Send the pending webhook requests now, as a worker would."""
    with installation.runtime.db.engine.connect() as conn:
        ids = list(conn.execute(select(REQUESTS.c.id).order_by(REQUESTS.c.id)).scalars())
    for request_id in ids:
        deliver_request(installation.runtime, request_id, locker_name())


def uuids(browser: Browser, path: str, kind: str) -> list[str]:
    page = browser.get(path)
    assert page.status == 200
    return list(dict.fromkeys(re.findall(rf"/{kind}/{UUID}/edit", page.text)))


def test_credentials_are_added_changed_and_deleted(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    page = dev.get(f"{SERVER}/credentials")
    # The installation's own SMTP and API credentials are listed, their keys not shown again.
    assert page.status == 200 and "SMTP credential" in page and "API credential" in page
    assert "Shown once, when it was created" in page and "Unused" in page
    form = dev.get(f"{SERVER}/credentials/new")
    assert form.status == 200 and "SMTP-IP" in form

    created = dev.post(f"{SERVER}/credentials/new", {"type": "SMTP", "name": "Mailer", "key": "", "hold": "1"})
    assert created.status == 201 and "The credential Mailer has been added." in created
    key = re.search(r'id="credential-key">([^<]+)<', created.text)
    assert key and len(key.group(1)) >= 20 and "acme/main" in created
    listed = dev.get(f"{SERVER}/credentials")
    assert "Mailer" in listed and key.group(1) not in listed and "Held" in listed
    api = dev.post(f"{SERVER}/credentials/new", {"type": "API", "name": "App", "key": "my-own-api-key", "hold": "0"})
    assert api.status == 201 and "my-own-api-key" in api and "X-Server-API-Key" in api
    network = dev.post(f"{SERVER}/credentials/new", {"type": "SMTP-IP", "name": "Office", "key": "192.0.2.7/24"})
    assert network.status == 201 and "192.0.2.0/24" in network
    assert "192.0.2.0/24" in dev.get(f"{SERVER}/credentials"), "a network is no secret: it stays visible"

    for values, message in [
        ({"type": "SMTP-IP", "key": ""}, "must be an IP address or network"),
        ({"type": "SMTP-IP", "key": "not-an-ip"}, "is not an IP address or network"),
        ({"type": "API", "key": "short"}, "at least 8 characters"),
        ({"type": "API", "key": "my-own-api-key"}, "has already been taken"),
        ({"type": "Password"}, "type"),
    ]:
        reply = dev.post(f"{SERVER}/credentials/new", {"name": "Bad", **values})
        assert reply.status == 422 and message in reply and 'value="Bad"' in reply.text, values

    [mailer] = re.findall(rf'/credentials/{UUID}/edit">Mailer<', dev.get(f"{SERVER}/credentials").text)
    edit = dev.get(f"{SERVER}/credentials/{mailer}/edit")
    assert edit.status == 200 and 'value="Mailer"' in edit.text and "checked" in edit.text
    reply = dev.post(f"{SERVER}/credentials/{mailer}/edit", {"name": "Newsletter", "hold": "0"})
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "The credential Newsletter has been saved." in listed and "Mailer" not in listed
    reply = dev.post(f"{SERVER}/credentials/{mailer}/edit", {"name": " ", "hold": "0"})
    assert reply.status == 422 and 'class="form-errors"' in reply.text and "name" in reply

    reply = dev.post(f"{SERVER}/credentials/{mailer}/delete")
    assert reply.status == 303 and "The credential Newsletter has been deleted." in dev.follow(reply)
    assert dev.get(f"{SERVER}/credentials/{mailer}/edit").status == 404


def test_webhooks_are_added_changed_and_deleted(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    page = dev.get(f"{SERVER}/webhooks")
    assert page.status == 200 and "This server has no webhooks yet." in page
    form = dev.get(f"{SERVER}/webhooks/new")
    assert form.status == 200 and "MessageDeliveryFailed" in form and "DomainDNSError" in form

    hook = {"name": "", "url": "https://hooks.example.com/postal", "enabled": "1", "all_events": "1"}
    reply = dev.post(f"{SERVER}/webhooks/new", hook)
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "The webhook hooks.example.com has been added." in listed and "All events" in listed
    reply = dev.post(
        f"{SERVER}/webhooks/new",
        {"name": "Bounces", "url": "https://b.example.com/", "enabled": "0", "all_events": "0",
         "events": ["MessageBounced", "MessageHeld"]},
    )  # fmt: skip
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "MessageBounced, MessageHeld" in listed and "Disabled" in listed
    first, bounces = uuids(dev, f"{SERVER}/webhooks", "webhooks")

    edit = dev.get(f"{SERVER}/webhooks/{bounces}/edit")
    assert edit.status == 200 and 'value="MessageBounced" checked' in edit.text
    assert 'value="MessageSent" checked' not in edit.text
    reply = dev.post(f"{SERVER}/webhooks/{bounces}/edit",
                     {"name": "Sent", "url": "https://b.example.com/v2", "enabled": "1", "all_events": "0",
                      "events": ["MessageSent"]})  # fmt: skip
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "The webhook Sent has been saved." in listed and "https://b.example.com/v2" in listed
    assert "MessageBounced" not in listed

    for values, message in [
        ({"url": "ftp://hooks.example.com/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"all_events": "0"}, "Choose the events this webhook should receive"),
        ({"name": " "}, "name"),
    ]:
        body = {"name": "Hook", "url": "https://hooks.example.com/", "enabled": "1", "all_events": "1", **values}
        reply = dev.post(f"{SERVER}/webhooks/{first}/edit", body)
        assert reply.status == 422 and 'class="form-errors"' in reply.text and message in reply, values
        assert f'value="{body["url"]}"' in reply.text
    reply = dev.post(f"{SERVER}/webhooks/new", {"url": "ftp://x.example/", "all_events": "1"})
    assert reply.status == 422 and 'value="ftp://x.example/"' in reply.text

    reply = dev.post(f"{SERVER}/webhooks/{first}/delete")
    assert reply.status == 303 and "has been deleted" in dev.follow(reply)
    assert uuids(dev, f"{SERVER}/webhooks", "webhooks") == [bounces]


def test_history_shows_real_requests_and_sends_one_again(
    site: Site, installation: Installation, receiver: HTTPReceiver
) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    reply = dev.post(f"{SERVER}/webhooks/new",
                     {"url": receiver.url, "enabled": "1", "all_events": "0", "events": ["MessageSent"]})  # fmt: skip
    assert reply.status == 303
    [hook] = uuids(dev, f"{SERVER}/webhooks", "webhooks")
    history = dev.get(f"{SERVER}/webhooks/{hook}/history")
    assert history.status == 200 and "No requests have been sent" in history

    # Given a message delivered and its MessageSent request refused once by the receiver.
    send(installation, "someone@example.net")
    run_queue(installation)
    receiver.status = 500
    receiver.response_body = b"Temporarily broken"
    deliver_pending(installation)
    receiver.status = 200
    receiver.response_body = b"Thanks"
    history = dev.get(f"{SERVER}/webhooks/{hook}/history")
    assert "MessageSent" in history and ">500<" in history.text and "Yes" in history
    [attempt] = re.findall(rf"/webhooks/{hook}/history/(\d+)", history.text)

    detail = dev.get(f"{SERVER}/webhooks/{hook}/history/{attempt}")
    assert detail.status == 200 and "someone@example.net" in detail and "Temporarily broken" in detail
    assert "Re-send" in detail

    # When it is sent again, the same request goes out and its new attempt is listed.
    reply = dev.post(f"{SERVER}/webhooks/{hook}/history/{attempt}/resend")
    assert reply.status == 303 and reply.location == f"{SERVER}/webhooks/{hook}/history"
    assert "The request has been queued to be sent again." in dev.follow(reply)
    deliver_pending(installation)
    sent = json.loads(receiver.requests[-1].body)
    assert sent["event"] == "MessageSent" and sent["payload"]["message"]["to"] == "someone@example.net"
    history = dev.get(f"{SERVER}/webhooks/{hook}/history")
    assert ">200<" in history.text and len(re.findall(rf"/webhooks/{hook}/history/(\d+)", history.text)) == 2
    newest = re.findall(rf"/webhooks/{hook}/history/(\d+)", history.text)[0]
    assert "Thanks" in dev.get(f"{SERVER}/webhooks/{hook}/history/{newest}")

    assert dev.get(f"{SERVER}/webhooks/{hook}/history/999999").status == 404
    assert dev.post(f"{SERVER}/webhooks/{hook}/history/abc/resend").status == 404
    assert dev.get(f"{SERVER}/webhooks/{hook}/history/{attempt}/resend").status == 405


def test_credentials_and_webhooks_are_invisible_across_tenants(site: Site, runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        create_organization(session, "Rival", "rival")
    admin = site.browser("admin@example.com")
    assert admin.post(f"{SERVER}/webhooks/new", {"url": "https://hooks.example.com/", "all_events": "1"}).status == 303
    [hook] = uuids(admin, f"{SERVER}/webhooks", "webhooks")
    [credential, *_] = uuids(admin, f"{SERVER}/credentials", "credentials")
    outsider = site.browser(site.member("outsider@example.com", "rival", admin=True))

    for path in ("credentials", "credentials/new", f"credentials/{credential}/edit", "webhooks", "webhooks/new",
                 f"webhooks/{hook}/edit", f"webhooks/{hook}/history"):  # fmt: skip
        assert outsider.get(f"{SERVER}/{path}").status == 404, path
    for path in (f"credentials/{credential}/delete", f"credentials/{credential}/edit", "credentials/new",
                 f"webhooks/{hook}/delete", f"webhooks/{hook}/edit", "webhooks/new"):  # fmt: skip
        reply = outsider.post(f"{SERVER}/{path}", {"type": "API", "name": "X", "url": "https://x.example/"})
        assert reply.status == 404, path
    assert credential in admin.get(f"{SERVER}/credentials").text
    assert uuids(admin, f"{SERVER}/webhooks", "webhooks") == [hook]
