"""Tracking requests over a real socket (reference §3.5): the image records an open, a link
records a click and redirects to the stored URL only, Postal's texts for everything else."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select

from core.tenancy.servers import find_server
from core.webhooks.requests import REQUESTS
from core.webhooks.subscriptions import create_webhook
from models.base import table
from models.message.link import Click, Link, Load
from tests.conftest import Installation
from tests.support.api_v2 import serve
from tests.support.dns_server import Zone
from tests.support.outgoing import message, run_queue, send
from tests.support.smtp_sink import SMTPSink
from tests.support.tracking import track_domain, tracking_urls
from web.tracking import PIXEL

HTML = (
    b"From: orders@example.com\r\nTo: c@example.net\r\nSubject: Hi\r\nContent-Type: text/html\r\n\r\n"
    b'<html><body><a href="https://shop.example/p?id=1&amp;x=%C3%A9">Shop</a></body></html>\r\n'
)
TRACK = {"X-Postal-Track-Host": "1", "User-Agent": "Mail/1.0 (test)"}


@pytest.fixture
def port(installation: Installation) -> Iterator[int]:
    with serve(installation.runtime) as port:
        yield port


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def rows(installation: Installation, model: type) -> list[Any]:
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        return list(conn.execute(select(table(model)).order_by(table(model).c.id)))


def webhook_payloads(installation: Installation) -> list[tuple[str, dict[str, Any]]]:
    with installation.runtime.db.engine.connect() as conn:
        found = conn.execute(select(REQUESTS.c.event, REQUESTS.c.payload).order_by(REQUESTS.c.id)).all()
    return [(event, json.loads(payload)) for event, payload in found]


@pytest.fixture
def sent(installation: Installation, smtp_sink: SMTPSink, zone: Zone) -> tuple[str, str]:
    """A tracked message delivered to the MX: (its link path, its image path)."""
    track_domain(installation, zone)
    with installation.runtime.db.transaction() as session:
        create_webhook(session, find_server(session, "acme/main"), "http://127.0.0.1:9/hooks")
    installation.runtime.servers.forget()
    send(installation, "c@example.net", raw=HTML)
    run_queue(installation)
    [link], [pixel] = tracking_urls(smtp_sink.wait_for(1)[0].data)
    return link.removeprefix("https://track.example.com"), pixel.removeprefix("https://track.example.com")


def test_the_image_records_each_open_and_the_first_sets_loaded(
    installation: Installation, port: int, sent: tuple[str, str]
) -> None:
    _, image = sent
    # When the image is loaded twice through the track domain
    first = get(port, image, TRACK)
    loaded = message(installation)["loaded"]
    second = get(port, image, TRACK)

    # Then both answers are the 1×1 PNG
    for status, headers, body in (first, second):
        assert (status, headers["content-type"], body) == (200, "image/png", PIXEL)
    assert PIXEL.startswith(b"\x89PNG\r\n\x1a\n") and PIXEL[16:24] == b"\x00\x00\x00\x01\x00\x00\x00\x01"
    # And each open is recorded with the client's address and agent; `loaded` is the first open
    loads = rows(installation, Load)
    assert [(r.ip_address, r.user_agent) for r in loads] == [("127.0.0.1", "Mail/1.0 (test)")] * 2
    assert loaded is not None and message(installation)["loaded"] == loaded == loads[0].timestamp
    # And MessageLoaded carries Postal's payload
    events = [e for e in webhook_payloads(installation) if e[0] == "MessageLoaded"]
    assert len(events) == 2
    payload = events[0][1]
    assert list(payload) == ["message", "ip_address", "user_agent"]
    assert (payload["message"]["token"], payload["ip_address"], payload["user_agent"]) == (
        message(installation)["token"], "127.0.0.1", "Mail/1.0 (test)",
    )  # fmt: skip


def test_a_link_records_the_click_and_redirects_to_the_stored_url(
    installation: Installation, port: int, sent: tuple[str, str]
) -> None:
    link, _ = sent
    status, headers, body = get(port, link, TRACK)

    # Then the answer is a 307 to the URL as the browser would have followed it
    assert (status, headers["location"]) == (307, "https://shop.example/p?id=1&x=%C3%A9")
    assert body == b"Redirected to: https://shop.example/p?id=1&x=%C3%A9"
    [click] = rows(installation, Click)
    [stored] = rows(installation, Link)
    assert (click.link_id, click.message_id, click.ip_address, click.user_agent) == (
        stored.id, 1, "127.0.0.1", "Mail/1.0 (test)",
    )  # fmt: skip
    assert message(installation)["clicked"] == click.timestamp
    [(_, payload)] = [e for e in webhook_payloads(installation) if e[0] == "MessageLinkClicked"]
    assert list(payload) == ["message", "url", "token", "ip_address", "user_agent"]
    assert (payload["url"], payload["token"], payload["message"]["id"]) == (stored.url, stored.token, 1)


def test_only_stored_links_redirect_and_postal_texts_answer_the_rest(
    installation: Installation, port: int, sent: tuple[str, str]
) -> None:
    server = installation.server_token
    link, image = sent
    # An unknown link, an unknown server on either path, and the image proxy of Postal v2
    assert get(port, f"/{server}/NoSuchLink", TRACK)[::2] == (404, b"Link not found")
    assert get(port, "/nosuchserver/abc", TRACK)[::2] == (404, b"Invalid Server Token")
    assert get(port, "/img/nosuchserver/abc", TRACK)[::2] == (404, b"Invalid Server Token")
    src = "?src=https://evil.example/x.png"
    assert get(port, image + src, TRACK)[::2] == (400, b"Invalid/missing source image")
    # A URL in the request is never followed
    status, headers, _ = get(port, f"{link}?url=https://evil.example/", TRACK)
    assert (status, headers["location"]) == (307, "https://shop.example/p?id=1&x=%C3%A9")
    # Anything else says hello; an open of a message that is gone still gets the image
    assert get(port, "/", TRACK)[::2] == (200, b"Hello.")
    assert get(port, "/just-one-segment", TRACK)[::2] == (200, b"Hello.")
    assert get(port, f"/img/{server}/NoSuchMessage", TRACK)[::2] == (200, PIXEL)
    assert len(rows(installation, Load)) == 0 and len(rows(installation, Click)) == 1


def test_without_the_header_the_paths_are_the_apps_own(
    installation: Installation, port: int, sent: tuple[str, str]
) -> None:
    link, image = sent
    # (the web UI sends a stranger to its login page)
    for path in (image, link):
        status, headers, _ = get(port, path)
        assert status != 307 and headers.get("content-type") != "image/png"
    assert get(port, "/health", {"X-Postal-Track-Host": "0"})[::2] == (200, b"OK")
    # With the header even the app's own paths are tracking paths
    assert get(port, "/health", TRACK)[::2] == (200, b"Hello.")
    assert rows(installation, Load) == [] and rows(installation, Click) == []


def test_a_stored_url_outside_ascii_is_percent_encoded_in_location(installation: Installation, port: int) -> None:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        conn.execute(
            insert(table(Link)).values(
                message_id=99, token="Unicode", hash="x", url="https://例え.jp/パス?q=ü", timestamp=0
            )
        )
    status, headers, _ = get(port, f"/{installation.server_token}/Unicode", TRACK)
    assert (status, headers["location"]) == (307, "https://%E4%BE%8B%E3%81%88.jp/%E3%83%91%E3%82%B9?q=%C3%BC")
    # The link's message is gone: the click is recorded, no webhook fires
    assert len(rows(installation, Click)) == 1 and webhook_payloads(installation) == []
