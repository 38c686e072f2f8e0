"""Click and open tracking from end to end (issue 10's "Done when"): an HTML and text message sent
through HTTP API v1 reaches the MX with tracked links and the image; fetching them through the
track domain answers the PNG and the redirect, the webhooks arrive signed, and `postal message
show` lists the open and the click."""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import select

from core.queue.queued_messages import locker_name
from core.tenancy.servers import find_server
from core.webhooks.requests import REQUESTS, deliver_request
from core.webhooks.subscriptions import create_webhook
from tests.conftest import Installation, run_cli
from tests.support.dns_server import Zone
from tests.support.http_receiver import HTTPReceiver
from tests.support.outgoing import run_queue
from tests.support.smtp_sink import SMTPSink
from tests.support.tracking import track_domain, tracking_urls
from tests.web.test_api_v1 import serve
from web.tracking import PIXEL

AGENT = "Mozilla/5.0 (end-to-end)"


def fetch(port: int, url: str) -> tuple[int, str | None, bytes, str | None]:
    """GET a tracking URL as the track domain's reverse proxy passes it on."""
    path = url.removeprefix("https://track.example.com")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"X-Postal-Track-Host": "1", "User-Agent": AGENT})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type"), response.read(), response.getheader("Location")
    finally:
        conn.close()


def deliver_webhooks(installation: Installation) -> None:
    with installation.runtime.db.engine.connect() as conn:
        ids = list(conn.scalars(select(REQUESTS.c.id).order_by(REQUESTS.c.id)))
    for request_id in ids:
        deliver_request(installation.runtime, request_id, locker_name())


def test_tracked_mail_opens_and_clicks_from_the_api_to_message_show(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone, config_file: Path
) -> None:
    runtime = installation.runtime
    receiver = HTTPReceiver().start()
    try:
        # Given a track domain whose CNAME the DNS answers, and a webhook for every event
        assert track_domain(installation, zone) == "OK"
        with runtime.db.transaction() as session:
            create_webhook(session, find_server(session, installation.server_ref), receiver.url)
        runtime.servers.forget()

        with serve(installation) as api:
            # When an application sends an HTML and text message through HTTP API v1
            sent = api.success(
                "/api/v1/send/message",
                {
                    "to": ["customer@example.net"],
                    "from": "Shop <orders@example.com>",
                    "subject": "Your order",
                    "plain_body": "Your order has shipped: https://shop.example/orders/42",
                    "html_body": '<html><body><p>Shipped!</p><a href="https://shop.example/orders/42">Track it</a>'
                    "</body></html>",
                },
            )
            token = sent["messages"]["customer@example.net"]["token"]
            run_queue(installation)

            # Then the MX receives tracked links in both parts, and the image in the HTML
            links, pixels = tracking_urls(smtp_sink.wait_for(1)[0].data)
            server = installation.server_token
            assert len(links) == 2 and all(url.startswith(f"https://track.example.com/{server}/") for url in links)
            assert pixels == [f"https://track.example.com/img/{server}/{token}"]

            # And the image answers the PNG, each link the 307 to the original URL
            assert fetch(api.port, pixels[0])[:3] == (200, "image/png", PIXEL)
            for url in links:
                status, _, _, location = fetch(api.port, url)
                assert (status, location) == (307, "https://shop.example/orders/42")

        # And the webhooks arrive signed with the installation key
        deliver_webhooks(installation)
        arrived = receiver.wait_for(4)
        key = load_pem_private_key(Path(runtime.config.signing_key_path).read_bytes(), password=None)
        bodies: dict[str, list[dict[str, Any]]] = {}
        for request in arrived:
            signature = base64.b64decode(request.headers["X-Postal-Signature-256"])
            key.public_key().verify(signature, request.body, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]
            body = json.loads(request.body)
            bodies.setdefault(body["event"], []).append(body["payload"])
        assert sorted(bodies) == ["MessageLinkClicked", "MessageLoaded", "MessageSent"]
        [loaded] = bodies["MessageLoaded"]
        assert (loaded["message"]["token"], loaded["user_agent"]) == (token, AGENT)
        clicks = bodies["MessageLinkClicked"]
        assert [c["url"] for c in clicks] == ["https://shop.example/orders/42"] * 2
        assert sorted(c["token"] for c in clicks) == sorted(url.rsplit("/", 1)[1] for url in links)
    finally:
        receiver.stop()

    # And `postal message show` lists the open and the clicks
    shown = json.loads(
        run_cli("message", "show", installation.server_ref, token, "--json", config_file=config_file).stdout
    )
    activity = shown["activity_entries"]
    assert [(e["ip_address"], e["user_agent"]) for e in activity["loads"]] == [("127.0.0.1", AGENT)]
    assert [e["url"] for e in activity["clicks"]] == ["https://shop.example/orders/42"] * 2
    text = run_cli("message", "show", installation.server_ref, token, config_file=config_file).stdout
    assert "Opens: 1, clicks: 2" in text
    assert f"opened from 127.0.0.1 ({AGENT})" in text
    assert text.count("clicked https://shop.example/orders/42 from 127.0.0.1") == 2
