"""The quick start without the CLI: `postal run` on a fresh data directory prints the web UI's
address and an administrator's password; with only those, a new user sets up a mail server in the
web UI, sends a message through SMTP with the credential made there, and sees it delivered."""

from __future__ import annotations

import re
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import merge, postal_command
from tests.support.dns_server import Zone
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink
from tests.support.ui import Browser


def _printed(process: RoleProcess, pattern: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, process.output())
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never printed:\n{process.output()}")


def test_a_new_user_does_the_quick_start_in_the_web_ui(
    config_data: dict[str, Any], smtp_sink: SMTPSink, zone: Zone, tmp_path: Path
) -> None:
    smtp_port, web_port = free_port(), free_port()
    config_file = tmp_path / "postal.yml"
    data = merge(config_data, {"smtp_server": {"default_port": smtp_port, "default_bind_address": "127.0.0.1"},
                               "web_server": {"default_port": web_port}})  # fmt: skip
    config_file.write_text(yaml.safe_dump({"version": 2, **data}))
    zone.mail_domain("example.net")
    run = RoleProcess([*postal_command(), "run"], config_file, tmp_path / "run.log")
    try:
        # Given only what the first start prints
        url = _printed(run, r"Web UI: +(\S+)")
        email = _printed(run, r"Administrator: +(\S+)")
        password = _printed(run, r"Password: +(\S+)")
        wait_for_port(web_port, run.process)
        wait_for_port(smtp_port, run.process)
        browser = Browser(url.rstrip("/"))
        assert browser.get("/").location == "/login?return_to=%2F"

        # When they log in and make an organization, a server, a domain and a credential
        browser.login(email, password)
        browser.get("/org/new")
        made = browser.post("/org/new", {"name": "My Company", "permalink": "my-company", "time_zone": "UTC"})
        assert made.status == 303 and made.location == "/org/my-company"
        browser.get("/org/my-company/servers/new")
        made = browser.post("/org/my-company/servers/new", {"name": "Main", "permalink": "main", "mode": "Live"})
        assert made.status == 303 and made.location == "/org/my-company/servers/main"
        server = "/org/my-company/servers/main"
        browser.get(f"{server}/domains/new")
        made = browser.post(
            f"{server}/domains/new", {"name": "example.com", "verification_method": "DNS", "verified": "1"}
        )
        assert made.status == 303
        assert "Verified" in browser.get(f"{server}/domains")
        browser.get(f"{server}/credentials/new")
        made = browser.post(f"{server}/credentials/new", {"type": "SMTP", "name": "Shop", "hold": "0"})
        assert made.status == 201
        key = re.search(r'id="credential-key">([^<]+)<', made.text)
        assert key

        # And send a message through SMTP with it
        message = EmailMessage()
        message["From"] = "Shop <orders@example.com>"
        message["To"] = "customer@example.net"
        message["Subject"] = "Your order has shipped"
        message.set_content("It is on its way.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.login("my-company/main", key.group(1))
            assert client.send_message(message) == {}

        # Then the MX receives it, and the web UI shows it sent, with its delivery
        assert b"Subject: Your order has shipped" in smtp_sink.wait_for(1, timeout=60)[0].data
        deadline = time.monotonic() + 30
        while "Sent" not in (listed := browser.get(f"{server}/messages/outgoing")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "Your order has shipped" in listed and "Sent" in listed
        first = re.search(rf'href="{server}/messages/(\d+)"', listed.text)
        assert first
        activity = browser.get(f"{server}/messages/{first.group(1)}/activity")
        assert activity.status == 200 and "accepted by 127.0.0.1" in activity
    except BaseException:
        print(run.output())
        raise
    finally:
        run.stop()
