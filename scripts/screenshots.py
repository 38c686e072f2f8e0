"""Screenshots of the web UI's main pages for docs/screenshots/: a throw-away installation on
SQLite with a little demo data, served on 127.0.0.1, photographed by Debian's Chromium.

    .venv/bin/python scripts/screenshots.py [output directory]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from dramatiq.brokers.stub import StubBroker
from playwright.sync_api import sync_playwright
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.broker import Publisher  # noqa: E402
from core.config import build_config  # noqa: E402
from core.incoming.endpoints import create_http_endpoint  # noqa: E402
from core.incoming.routes import create_route  # noqa: E402
from core.installation import ensure_signing_key, initialize_database  # noqa: E402
from core.jobs.dequeue import process_queued_messages  # noqa: E402
from core.outgoing.submission import Submission, submit  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.tenancy.credentials import create_credential  # noqa: E402
from core.tenancy.domains import add_domain  # noqa: E402
from core.tenancy.organizations import create_organization  # noqa: E402
from core.tenancy.servers import create_server  # noqa: E402
from core.tenancy.users import create_user  # noqa: E402
from core.webhooks.subscriptions import create_webhook  # noqa: E402
from models.enums import CredentialType  # noqa: E402
from web.app import create_app  # noqa: E402
from web.server import start_threaded  # noqa: E402

EMAIL, PASSWORD = "admin@example.com", "screenshots only"
SERVER = "/org/acme/servers/main"
PAGES = {
    "login": "/login",
    "organizations": "/",
    "organization": "/org/acme",
    "server-overview": SERVER,
    "messages": f"{SERVER}/messages/outgoing",
    "message": f"{SERVER}/messages/1",
    "held": f"{SERVER}/messages/held",
    "send": f"{SERVER}/send",
    "suppressions": f"{SERVER}/suppressions",
    "domains": f"{SERVER}/domains",
    "routes": f"{SERVER}/routes",
    "credentials": f"{SERVER}/credentials",
    "webhooks": f"{SERVER}/webhooks",
    "server-settings": f"{SERVER}/settings",
    "users": "/users",
    "ip-pools": "/ip_pools",
}


def demo_runtime(data: Path) -> Runtime:
    config = build_config(
        {"postal": {"data_dir": str(data), "web_hostname": "postal.example.com", "smtp_hostname": "postal.example.com"},
         "dns": {"dkim_key_size": 1024}},
        environ={},
    )  # fmt: skip
    initialize_database(config).dispose()
    ensure_signing_key(config)
    runtime = Runtime.create(config, Publisher(StubBroker()))
    with runtime.db.transaction() as session:
        create_user(session, EMAIL, PASSWORD, "Ada", "Admin", admin=True)
        org = create_organization(session, "ACME Inc", "acme")
        server = create_server(session, config, runtime.message_dbs, org, "Main", "main")
        add_domain(session, config, server, "example.com", verified=True)
        create_credential(session, server, CredentialType.SMTP, name="Shop")
        held = create_credential(session, server, CredentialType.API, name="Newsletter (held for review)", hold=True)
        endpoint = create_http_endpoint(session, server, "Support desk", "https://desk.example.com/incoming")
        create_route(session, server, "support@example.com", endpoints=[endpoint])
        create_webhook(session, server, "https://app.example.com/postal-events", "Order app")
        server_id, held_id = server.id, held.id
    for n, rcpt in enumerate(["ana@example.net", "bo@example.org", "cy@example.net", "di@example.com"], start=1):
        submit(
            runtime,
            Submission(server_id, "orders@example.com", [rcpt], _mail(rcpt, f"Your order #{10040 + n} has shipped")),
        )
    # A newsletter sent with the held credential: processing it holds it for review.
    news = Submission(server_id, "news@example.com", ["eve@example.net"], _mail("eve@example.net", "December news"),
                      credential_id=held_id)  # fmt: skip
    accepted = submit(runtime, news)
    with runtime.db.engine.connect() as conn:
        queued = conn.execute(text("SELECT id FROM queued_messages WHERE message_id = :m"),
                              {"m": accepted.messages[0][1]}).scalars().all()  # fmt: skip
    process_queued_messages(runtime, list(queued))
    return runtime


def _mail(rcpt: str, subject: str) -> bytes:
    return (
        f"From: Shop <orders@example.com>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nThank you for your order.\r\n"
    ).encode()


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runtime = demo_runtime(Path(tmp))
        web = start_threaded(create_app(runtime), "127.0.0.1", 0, runtime.config)
        base = f"http://127.0.0.1:{web.port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                tab = browser.new_page(viewport={"width": 1280, "height": 860})
                tab.goto(base + "/login")
                tab.screenshot(path=str(out / "login.png"))
                tab.fill("input[name=email_address]", EMAIL)
                tab.fill("input[name=password]", PASSWORD)
                tab.click("button:has-text('Log in')")
                tab.wait_for_url(base + "/")
                for name, path in PAGES.items():
                    if name == "login":
                        continue
                    tab.goto(base + path)
                    tab.wait_for_load_state("networkidle")
                    tab.screenshot(path=str(out / f"{name}.png"), full_page=True)
                    print(f"{name}: {path}")
                browser.close()
        finally:
            web.shutdown()
            runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
