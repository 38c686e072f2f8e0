"""Messages over the management API: Postal's search syntax, one message, its raw data,
deliveries and activity, and nothing of another tenant's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.outgoing.submission import Submission, submit
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.incoming import receive, route
from tests.support.outgoing import run_queue
from tests.support.smtp_sink import SMTPSink

MESSAGES = "/organizations/acme/servers/main/messages"


def mail(subject: str, message_id: str) -> bytes:
    return (
        f"From: Shop <orders@example.com>\r\nTo: someone@example.net\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\n\r\nHello\r\n"
    ).encode()


def send(installation: Installation, rcpt: str, subject: str, message_id: str, tag: str | None = None) -> int:
    accepted = submit(
        installation.runtime,
        Submission(
            server_id=installation.server_id,
            mail_from="orders@example.com",
            rcpt_to=[rcpt],
            raw=mail(subject, message_id),
            tag=tag,
        ),
    )
    [(_, message_id_, _)] = accepted.messages
    return message_id_


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


@pytest.fixture
def three_messages(installation: Installation, smtp_sink: SMTPSink) -> dict[str, int]:
    """An invoice (sent), a welcome (hard failed), and a question received for support@."""
    smtp_sink.handler.rcpt_replies["b@example.net"] = "550 5.1.1 unknown user"
    invoice = send(installation, "a@example.net", "Invoice 42 (paid)", "inv-42@example.com", tag="billing")
    welcome = send(installation, "b@example.net", "Welcome aboard", "welcome-1@example.com")
    run_queue(installation)
    route(installation, "support@example.com", mode="Accept")
    [question] = receive(installation, "support@example.com")
    return {"invoice": invoice, "welcome": welcome, "question": question}


def ids(api: LiveAPI, query: str = "", **params: str) -> list[int]:
    from urllib.parse import urlencode

    reply = api.admin.get(f"{MESSAGES}?{urlencode({'q': query, **params})}")
    assert reply.status == 200, reply.body
    return [m["id"] for m in reply.body["data"]]


def test_search_by_each_term(api: LiveAPI, three_messages: dict[str, int]) -> None:
    invoice, welcome, question = three_messages["invoice"], three_messages["welcome"], three_messages["question"]
    token = api.admin.get(f"{MESSAGES}/{invoice}").body["token"]

    assert ids(api) == [question, welcome, invoice]  # newest first
    assert ids(api, "to:a@example.net") == [invoice]
    assert ids(api, "from:orders@example.com") == [welcome, invoice]
    assert ids(api, "status:hardfail") == [welcome]
    assert ids(api, "status:Sent status:HardFail") == [welcome, invoice]
    assert ids(api, "tag:billing") == [invoice]
    assert ids(api, "tag:[blank] from:orders@example.com") == [welcome]
    assert ids(api, "msgid:<inv-42@example.com>") == [invoice]
    assert ids(api, "msgid:question-1@example.net") == [question]
    assert ids(api, f"id:{welcome}") == [welcome]
    assert ids(api, f"token:{token}") == [invoice]
    assert ids(api, "invoice") == [invoice]
    assert ids(api, '"welcome aboard"') == [welcome]
    assert ids(api, "(paid) 42") == [invoice]
    assert ids(api, "after:2000-01-01 before:2999-12-31") == [question, welcome, invoice]
    assert ids(api, 'after:"2999-01-01 10:00"') == []
    assert ids(api, "before:2000-01-01 00:30") == []
    assert ids(api, "after:0001-01-01 before:9999-12-31") == [question, welcome, invoice]
    assert ids(api, "", scope="incoming") == [question]
    assert ids(api, "to:support@example.com", scope="outgoing") == []


def test_bad_search_terms_are_refused_by_name(api: LiveAPI) -> None:
    for query, named in [
        ("color:red", "color:"),
        ("after:yesterday", "after:"),
        ("before:2024-13-45", "before:"),
        ("status:lost", "status:"),
        ("id:abc", "id:"),
        ("to:", "to:"),
    ]:
        reply = api.admin.get(f"{MESSAGES}?q={query}")
        assert (reply.status, reply.code) == (422, "validation_failed"), query
        assert named in reply.body["error"]["message"], reply.body
        assert reply.body["error"]["details"][0]["field"] == "q"
    assert api.admin.get(f"{MESSAGES}?scope=sideways").code == "invalid_request"


def test_pages_of_messages_newest_first(api: LiveAPI, three_messages: dict[str, int]) -> None:
    first = api.admin.get(f"{MESSAGES}?limit=2").body
    assert [m["id"] for m in first["data"]] == [three_messages["question"], three_messages["welcome"]]
    second = api.admin.get(f"{MESSAGES}?limit=2&cursor={first['next_cursor']}").body
    assert [m["id"] for m in second["data"]] == [three_messages["invoice"]] and second["next_cursor"] is None
    assert api.admin.get(f"{MESSAGES}?cursor=nonsense").code == "invalid_cursor"


def test_one_message_its_raw_data_deliveries_and_activity(api: LiveAPI, three_messages: dict[str, int]) -> None:
    invoice, welcome = three_messages["invoice"], three_messages["welcome"]
    message = api.admin.get(f"{MESSAGES}/{invoice}").body
    assert (message["scope"], message["rcpt_to"], message["subject"], message["tag"]) == (
        "outgoing", "a@example.net", "Invoice 42 (paid)", "billing",
    )  # fmt: skip
    assert (message["status"], message["message_id"], message["queued"]) == ("Sent", "inv-42@example.com", None)
    assert message["headers"]["subject"] == ["Invoice 42 (paid)"]
    assert message["plain_body"].strip() == "Hello" and message["inspection"]["spam"] is False

    raw = api.admin.get(f"{MESSAGES}/{invoice}/raw")
    assert raw.status == 200 and raw.headers["content-type"] == "message/rfc822"
    assert b"Subject: Invoice 42 (paid)\r\n" in raw.raw and raw.raw.rstrip().endswith(b"Hello")
    assert f"message-acme-main-{invoice}.eml" in raw.headers["content-disposition"]

    deliveries = api.admin.get(f"{MESSAGES}/{welcome}/deliveries").body["deliveries"]
    assert deliveries[-1]["status"] == "HardFail" and "550" in deliveries[-1]["output"]
    assert deliveries[-1]["timestamp"].endswith("+00:00")
    assert api.admin.get(f"{MESSAGES}/{invoice}/activity").body == {"loads": [], "clicks": []}

    for suffix in ("", "/raw", "/deliveries", "/activity"):
        assert api.admin.get(f"{MESSAGES}/999{suffix}").status == 404
        assert api.admin.get(f"{MESSAGES}/abc{suffix}").status == 404


def test_another_tenants_messages_do_not_exist(api: LiveAPI, three_messages: dict[str, int]) -> None:
    api.admin.post("/organizations", {"name": "Globex", "permalink": "globex"})
    api.admin.post("/organizations/acme/servers", {"name": "Other", "permalink": "other"})
    outsider = api.member("eve@example.com", "globex", admin=True)
    other_only = api.member("dev@example.com", "acme", servers="other")
    member = api.member("ann@example.com", "acme", servers="main")
    invoice = three_messages["invoice"]

    for client in (outsider, other_only):
        for path in (
            MESSAGES,
            f"{MESSAGES}/{invoice}",
            f"{MESSAGES}/{invoice}/raw",
            f"{MESSAGES}/{invoice}/deliveries",
        ):
            reply = client.get(path)
            assert (reply.status, reply.code) == (404, "not_found"), path
    assert member.get(f"{MESSAGES}/{invoice}").status == 200
    # Ids are per server: the other server has no message of that id.
    assert member.get(f"/organizations/acme/servers/other/messages/{invoice}").status == 404
    assert api.admin.get(f"/organizations/acme/servers/other/messages/{invoice}").status == 404


def test_order_oldest_first_and_spam_hidden_on_request(
    api: LiveAPI, installation: Installation, three_messages: dict[str, int]
) -> None:
    from sqlalchemy import update

    from models.base import table
    from models.message.message import Message

    invoice, welcome, question = three_messages["invoice"], three_messages["welcome"], three_messages["question"]
    assert ids(api, "order:oldest-first") == [invoice, welcome, question]
    first = api.admin.get(f"{MESSAGES}?q=order:oldest-first&limit=2").body
    second = api.admin.get(f"{MESSAGES}?q=order:oldest-first&limit=2&cursor={first['next_cursor']}").body
    assert [m["id"] for m in second["data"]] == [question]
    assert api.admin.get(f"{MESSAGES}?q=order:sideways").code == "validation_failed"

    messages = table(Message)
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        conn.execute(update(messages).where(messages.c.id == welcome).values(spam=True))
    assert ids(api, "", hide_spam="true") == [question, invoice]
    assert ids(api, "spam:yes", hide_spam="true") == [welcome]
    assert ids(api, "msgid:welcome-1@example.com", hide_spam="true") == [welcome]
    assert ids(api) == [question, welcome, invoice]


def test_html_body_without_tracking_image_and_attachments(api: LiveAPI, installation: Installation) -> None:
    from core.mail.compose import Attachment, Composition, compose

    html = (
        "<html><body><p>Hi <img src='cid:logo'></p>"
        "<p class='ampimg' style='display:none'><img src='https://track.example.com/img/srv123/msg456' alt=''></p>"
        "</body></html>"
    )
    raw = compose(
        Composition(
            from_="orders@example.com",
            to=["a@example.net"],
            subject="With parts",
            plain_body="Hi",
            html_body=html,
            attachments=[Attachment("notes.txt", b"some notes", "text/plain"), Attachment("x.bin", b"\x00\x01")],
        ),
        message_id="parts@example.com",
    )
    accepted = submit(
        installation.runtime,
        Submission(server_id=installation.server_id, mail_from="orders@example.com", rcpt_to=["a@example.net"],
                   raw=raw),
    )  # fmt: skip
    [(_, mid, _)] = accepted.messages
    message = api.admin.get(f"{MESSAGES}/{mid}").body
    assert [a["filename"] for a in message["attachments"]] == ["notes.txt", "x.bin"]
    assert message["spam_checks"] == [] and message["bounce_for_id"] is None

    body = api.admin.get(f"{MESSAGES}/{mid}/html")
    assert body.status == 200 and body.headers["content-type"].startswith("text/html")
    assert b"cid:logo" in body.raw and b"/img/" not in body.raw and b"ampimg" not in body.raw

    notes = api.admin.get(f"{MESSAGES}/{mid}/attachment?index=0")
    assert notes.status == 200 and notes.raw == b"some notes" and notes.headers["content-type"].startswith("text/plain")
    assert "notes.txt" in notes.headers["content-disposition"]
    assert api.admin.get(f"{MESSAGES}/{mid}/attachment?index=1").raw == b"\x00\x01"
    assert api.admin.get(f"{MESSAGES}/{mid}/attachment?index=2").status == 404
    for bad in ("x", "-1", ""):
        assert api.admin.get(f"{MESSAGES}/{mid}/attachment?index={bad}").code == "invalid_request"

    plain_only = send(installation, "b@example.net", "Plain", "plain@example.com")
    assert api.admin.get(f"{MESSAGES}/{plain_only}/html").status == 404


def test_a_test_message_is_sent_out_or_received(api: LiveAPI, installation: Installation) -> None:
    sent = api.admin.post(
        f"{MESSAGES}/test",
        {"scope": "outgoing", "from": "Shop <shop@example.com>", "to": "c@example.net", "subject": "Try",
         "plain_body": "Testing", "html_body": "<p>Testing</p>"},
    )  # fmt: skip
    assert sent.status == 201, sent.body
    [made] = sent.body["messages"]
    message = api.admin.get(f"{MESSAGES}/{made['id']}").body
    assert (message["scope"], message["mail_from"], message["rcpt_to"], message["subject"]) == (
        "outgoing", "shop@example.com", "c@example.net", "Try",
    )  # fmt: skip
    assert message["plain_body"].strip() == "Testing" and "<p>Testing</p>" in message["html_body"]
    assert message["queued"] is not None and sent.body["message_id"] == message["message_id"]

    refused = api.admin.post(f"{MESSAGES}/test", {"scope": "outgoing", "from": "x@elsewhere.example", "to": "c@e.net",
                                                  "plain_body": "Hi"})  # fmt: skip
    assert refused.code == "validation_failed" and refused.body["error"]["details"][0]["field"] == "from"
    empty = api.admin.post(f"{MESSAGES}/test", {"scope": "outgoing", "from": "shop@example.com", "to": "c@e.net"})
    assert empty.code == "validation_failed" and empty.body["error"]["details"][0]["field"] == "plain_body"
    bad_to = api.admin.post(f"{MESSAGES}/test", {"scope": "outgoing", "from": "shop@example.com", "to": "nobody",
                                                 "plain_body": "Hi"})  # fmt: skip
    assert bad_to.body["error"]["details"][0]["field"] == "to"

    unrouted = api.admin.post(f"{MESSAGES}/test", {"scope": "incoming", "from": "a@example.net",
                                                   "to": "help@example.com", "plain_body": "Hi"})  # fmt: skip
    assert unrouted.code == "validation_failed" and "receives mail" in unrouted.body["error"]["message"]
    route(installation, "help@example.com", mode="Accept")
    received = api.admin.post(f"{MESSAGES}/test", {"scope": "incoming", "from": "a@example.net",
                                                   "to": "help@example.com", "plain_body": "Hi"})  # fmt: skip
    assert received.status == 201, received.body
    [incoming] = received.body["messages"]
    assert api.admin.get(f"{MESSAGES}/{incoming['id']}").body["scope"] == "incoming"

    api.admin.post("/organizations", {"name": "Globex", "permalink": "globex"})
    outsider = api.member("eve@example.com", "globex", admin=True)
    assert outsider.post(f"{MESSAGES}/test", {"scope": "outgoing", "from": "shop@example.com", "to": "c@example.net",
                                              "plain_body": "Hi"}).status == 404  # fmt: skip
