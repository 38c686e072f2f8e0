"""The Messages tab over HTTP: the outgoing and incoming lists with Postal's search, the queue and
held messages with their bulk actions, one message's page, its downloads and actions, and
sending a test message; and nothing of another tenant's."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from core.mail.compose import Attachment, Composition, compose
from models.base import table
from models.enums import ServerMode
from models.message.message import Message
from tests.conftest import Installation
from tests.support.incoming import receive, route
from tests.support.outgoing import change_server, message, run_queue, send
from tests.support.smtp_sink import SMTPSink
from tests.support.ui import Site

SERVER = "/org/acme/servers/main"
MESSAGES = f"{SERVER}/messages"


def mail(subject: str, html: str | None = None, attachments: list[Attachment] | None = None) -> bytes:
    return compose(
        Composition(from_="Shop <orders@example.com>", to=["a@example.net"], subject=subject, plain_body="Hello there",
                    html_body=html, attachments=attachments or []),
        message_id=f"{subject.replace(' ', '-')}@example.com",
    )  # fmt: skip


def held_messages(installation: Installation, *rcpts: str) -> None:
    """Messages held by development mode, ids 1, 2, … in the order of `rcpts`."""
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, *rcpts)
    run_queue(installation)
    change_server(installation, mode=ServerMode.LIVE)


@pytest.fixture
def admin(site: Site) -> Any:
    return site.browser("admin@example.com")


def test_outgoing_and_incoming_lists_search_with_postals_syntax(
    site: Site, admin: Any, installation: Installation
) -> None:
    send(installation, "a@example.net", raw=mail("Invoice 42"))
    send(installation, "b@example.net", raw=mail("Welcome aboard"))
    send(installation, "c@example.net", raw=mail("Cheap pills"))
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        conn.execute(update(table(Message)).where(table(Message).c.id == 3).values(spam=True))
    route(installation, "support@example.com", mode="Accept")
    receive(installation, "support@example.com")

    outgoing = admin.get(f"{MESSAGES}/outgoing")
    assert outgoing.status == 200 and "Invoice 42" in outgoing and "Welcome aboard" in outgoing
    assert 'class="subtabs"' in outgoing.text and "Help please" not in outgoing
    assert "Cheap pills" not in outgoing  # spam is hidden unless searched for
    assert "Cheap pills" in admin.get(f"{MESSAGES}/outgoing?q=spam:yes")
    found = admin.get(f"{MESSAGES}/outgoing?q=to:a@example.net")
    assert "Invoice 42" in found and "Welcome aboard" not in found
    assert "Welcome aboard" in admin.get(f"{MESSAGES}/outgoing?q=welcome")
    oldest = admin.get(f"{MESSAGES}/outgoing?q=order:oldest-first").text
    assert oldest.index("Invoice 42") < oldest.index("Welcome aboard")
    assert "No outgoing messages match" in admin.get(f"{MESSAGES}/outgoing?q=tag:nothing")

    bad = admin.get(f"{MESSAGES}/outgoing?q=colour:red")
    assert bad.status == 422 and "unknown term colour:" in bad and 'value="colour:red"' in bad.text

    incoming = admin.get(f"{MESSAGES}/incoming")
    assert incoming.status == 200 and "Help please" in incoming and "Invoice 42" not in incoming


def test_the_list_pages_thirty_at_a_time(admin: Any, installation: Installation) -> None:
    for n in range(32):
        send(installation, f"r{n}@example.net", raw=mail(f"Number {n:02d}"))
    first = admin.get(f"{MESSAGES}/outgoing")
    assert "Number 31" in first and "Number 02" in first and "Number 01" not in first
    assert 'rel="next"' in first.text
    cursor = first.text.split("cursor=", 1)[1].split('"', 1)[0]
    second = admin.get(f"{MESSAGES}/outgoing?cursor={cursor}")
    assert "Number 01" in second and "Number 00" in second and "Number 31" not in second


def test_message_page_tabs_and_downloads(admin: Any, installation: Installation) -> None:
    html = (
        "<html><body><p>Hi there</p><script>alert(1)</script>"
        "<p class='ampimg' style='display:none'><img src='https://t.example.com/img/srv/msg' alt=''></p></body></html>"
    )
    send(
        installation,
        "a@example.net",
        raw=mail("Rich one", html, [Attachment("notes.txt", b"some notes", "text/plain")]),
    )
    page = f"{MESSAGES}/1"
    properties = admin.get(page)
    assert properties.status == 200 and "Rich one" in properties and "orders@example.com" in properties
    assert "Rich-one@example.com" in properties and "Pending" in properties
    for tab, text in [
        ("activity", "Nothing has happened"),
        ("headers", "content-type"),
        ("spam", "has not been inspected"),
        ("plain", "Hello there"),
        ("attachments", "notes.txt"),
    ]:
        reply = admin.get(f"{page}/{tab}")
        assert reply.status == 200 and text in reply, tab
    html_tab = admin.get(f"{page}/html")
    assert html_tab.status == 200 and f'<iframe class="message-html" sandbox src="{page}/html/raw"' in html_tab.text
    assert admin.get(f"{page}/nonsense").status == 404
    assert admin.get(f"{MESSAGES}/999").status == 404

    raw = admin.get(f"{page}/html/raw")
    assert raw.status == 200 and raw.headers["Content-Type"].startswith("text/html")
    assert raw.headers["Content-Security-Policy"] == (
        "sandbox; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'"
    )
    assert raw.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Hi there" in raw.text and "/img/" not in raw.text and "ampimg" not in raw.text

    eml = admin.get(f"{page}/download")
    assert eml.status == 200 and eml.headers["Content-Type"] == "message/rfc822"
    assert "message-acme-main-1.eml" in eml.headers["Content-Disposition"] and "Subject: Rich one" in eml.text
    notes = admin.get(f"{page}/attachments/0")
    assert notes.status == 200 and notes.text == "some notes" and "notes.txt" in notes.headers["Content-Disposition"]
    assert admin.get(f"{page}/attachments/1").status == 404
    assert admin.get(f"{page}/attachments/x").status == 404

    send(installation, "b@example.net", raw=mail("Plain one"))
    assert "has no HTML body" in admin.get(f"{MESSAGES}/2/html")
    assert admin.get(f"{MESSAGES}/2/html/raw").status == 404


def test_activity_shows_deliveries(admin: Any, installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["a@example.net"] = "550 5.1.1 unknown user"
    send(installation, "a@example.net", raw=mail("Bounced one"))
    run_queue(installation)
    activity = admin.get(f"{MESSAGES}/1/activity")
    assert activity.status == 200 and "HardFail" in activity and "550 5.1.1 unknown user" in activity


def test_message_actions_release_cancel_retry_remove(
    admin: Any, installation: Installation, smtp_sink: SMTPSink
) -> None:
    held_messages(installation, "a@example.net", "b@example.net")
    page = admin.get(f"{MESSAGES}/1")
    assert "Release" in page and "Cancel hold" in page
    released = admin.post(f"{MESSAGES}/1/release")
    assert released.status == 303 and released.location == f"{MESSAGES}/1"
    after = admin.follow(released)
    assert "The message was released." in after and "Remove from queue" in after

    removed = admin.follow(admin.post(f"{MESSAGES}/1/remove"))
    assert "removed from the queue" in removed
    assert "not queued" in admin.follow(admin.post(f"{MESSAGES}/1/remove"))

    assert "hold cancelled" in admin.follow(admin.post(f"{MESSAGES}/2/cancel"))
    assert message(installation, 2)["status"] == "HoldCancelled"
    assert "queued to retry now" in admin.follow(admin.post(f"{MESSAGES}/2/retry"))
    assert admin.post(f"{MESSAGES}/2/explode").status == 404
    assert admin.post(f"{MESSAGES}/2/retry", csrf=False).status == 403


def test_held_messages_are_released_and_cancelled_in_bulk(admin: Any, installation: Installation, zone: Any) -> None:
    for domain in ("one.example", "two.example"):
        zone.mail_domain(domain)
    held_messages(installation, "a@one.example", "b@one.example", "c@two.example", "d@two.example")
    held = admin.get(f"{MESSAGES}/held")
    assert held.status == 200 and all(f"{x}@" in held.text for x in "abcd")
    assert 'data-select-all="ids"' in held.text and "Release all matching" in held

    nothing = admin.post(f"{MESSAGES}/held", {"action": "release"})
    assert "Select at least one message" in admin.follow(nothing)
    selected = admin.post(f"{MESSAGES}/held", {"action": "release", "ids": ["1", "3"]})
    assert selected.status == 303
    assert "Released 2 messages." in admin.follow(selected)
    assert [message(installation, i)["held"] for i in (1, 3)] == [True, True]  # queued, not yet processed

    filtered = admin.get(f"{MESSAGES}/held?recipient_domain=two.example")
    assert "d@two.example" in filtered and "b@one.example" not in filtered
    everything = admin.post(f"{MESSAGES}/held", {"action": "cancel", "all": "1", "recipient_domain": "two.example"})
    assert everything.location == f"{MESSAGES}/held?recipient_domain=two.example"
    assert "Cancelled the hold of 2 messages." in admin.follow(everything)
    assert [message(installation, i)["status"] for i in (2, 3, 4)] == ["Held", "HoldCancelled", "HoldCancelled"]

    assert "No held messages match" in admin.get(f"{MESSAGES}/held?older_than_hours=1000")
    bad = admin.get(f"{MESSAGES}/held?older_than_hours=soon")
    assert bad.status == 422 and "whole number of hours" in bad
    assert admin.post(f"{MESSAGES}/held", {"action": "remove", "ids": ["2"]}).status == 303
    assert message(installation, 2)["held"] is True


def test_the_queue_is_retried_and_removed_in_bulk(admin: Any, installation: Installation, smtp_sink: SMTPSink) -> None:
    smtp_sink.handler.rcpt_replies["a@example.net"] = "451 4.3.0 try later"
    smtp_sink.handler.rcpt_replies["b@example.net"] = "451 4.3.0 try later"
    send(installation, "a@example.net", "b@example.net")
    run_queue(installation)
    queue = admin.get(f"{SERVER}/queue")
    assert queue.status == 200 and "a@example.net" in queue and "b@example.net" in queue
    assert "Retry all matching" in queue

    retried = admin.follow(admin.post(f"{SERVER}/queue", {"action": "retry", "ids": ["1"]}))
    assert "Queued to retry now 1 message." in retried
    assert "Now" in retried  # message 1 is due now

    assert "No queued messages match" in admin.get(f"{SERVER}/queue?recipient_domain=else.example")
    removed = admin.post(f"{SERVER}/queue", {"action": "remove", "all": "1"})
    assert "Removed from the queue 2 messages." in admin.follow(removed)
    assert "The queue is empty." in admin.get(f"{SERVER}/queue")
    assert admin.post(f"{SERVER}/queue", {"action": "release", "all": "1"}).status == 303


def test_sending_a_test_message_out_and_in(admin: Any, installation: Installation) -> None:
    form = admin.get(f"{SERVER}/send")
    assert form.status == 200 and 'name="plain_body"' in form.text and "Send message" in form
    outgoing = {"scope": "outgoing", "from": "Shop <shop@example.com>", "to": "someone@example.net",
                "subject": "Hello test", "plain_body": "Just testing", "html_body": "<b>Just testing</b>"}  # fmt: skip
    sent = admin.post(f"{SERVER}/send", outgoing)
    assert sent.status == 303 and sent.location == f"{MESSAGES}/1"
    shown = admin.follow(sent)
    assert "The test message was queued." in shown and "Hello test" in shown and "someone@example.net" in shown
    assert "<b>Just testing</b>" in admin.get(f"{MESSAGES}/1/html/raw").text

    refused = admin.post(f"{SERVER}/send", {**outgoing, "from": "x@elsewhere.example", "subject": "Kept"})
    assert refused.status == 422 and "not authorised to send mail" in refused and 'value="Kept"' in refused.text
    unrouted = admin.post(f"{SERVER}/send", {"scope": "incoming", "from": "a@example.net", "to": "help@example.com",
                                              "plain_body": "Hi"})  # fmt: skip
    assert unrouted.status == 422 and "receives mail for" in unrouted

    route(installation, "help@example.com", mode="Accept")
    received = admin.post(f"{SERVER}/send", {"scope": "incoming", "from": "a@example.net", "to": "help@example.com",
                                              "subject": "Inbound", "plain_body": "Hi"})  # fmt: skip
    assert received.status == 303 and received.location == f"{MESSAGES}/2"
    assert "Incoming" in admin.follow(received)
    assert "Inbound" in admin.get(f"{MESSAGES}/incoming")


def test_another_tenant_sees_nothing(site: Site, installation: Installation) -> None:
    held_messages(installation, "a@example.net")
    with site.runtime.db.transaction() as session:
        from core.tenancy.organizations import create_organization

        create_organization(session, "Globex", "globex")
    outsider = site.browser(site.member("eve@example.com", "globex", admin=True))
    member = site.browser(site.member("ann@example.com", "acme", servers="main"))
    paths = [f"{MESSAGES}/outgoing", f"{MESSAGES}/incoming", f"{SERVER}/queue", f"{MESSAGES}/held", f"{SERVER}/send",
             f"{MESSAGES}/1", f"{MESSAGES}/1/headers", f"{MESSAGES}/1/download"]  # fmt: skip
    for path in paths:
        assert outsider.get(path).status == 404, path
        assert member.get(path).status == 200, path
    assert outsider.post(f"{MESSAGES}/1/release").status == 404
    assert outsider.post(f"{MESSAGES}/held", {"action": "cancel", "all": "1"}).status == 404
    assert outsider.post(f"{SERVER}/send", {"scope": "outgoing", "from": "shop@example.com", "to": "x@example.net",
                                             "plain_body": "Hi"}).status == 404  # fmt: skip
    assert message(installation, 1)["held"] is True
    assert site.browser().get(f"{MESSAGES}/1").status == 303  # logged out: to the login page
