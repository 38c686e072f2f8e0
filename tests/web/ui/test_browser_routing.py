"""The Routing, Credentials and Webhooks tabs in a real browser: an administrator adds an HTTP
endpoint, a route to it, a credential (and sees its key) and a webhook with chosen events."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser
SERVER = "/org/acme/servers/main"


def test_admin_sets_up_routing_credentials_and_webhooks(page: Any) -> None:
    log_in(page, "admin@example.com")

    # An HTTP endpoint, from the Routing tab.
    page.goto(f"{SERVER}/routes")
    page.click("nav.subtabs a:has-text('HTTP endpoints')")
    page.click("text=Add an HTTP endpoint")
    page.fill("input[name=name]", "App")
    page.fill("input[name=url]", "https://app.example.com/incoming")
    page.select_option("select[name=format]", "RawMessage")
    page.fill("input[name=timeout]", "20")
    page.click("button:has-text('Add endpoint')")
    page.wait_for_url(f"**{SERVER}/http_endpoints")
    assert "The HTTP endpoint App (https://app.example.com/incoming) has been added." in page.inner_text(".flash")
    assert "20 s" in page.inner_text("table.list")

    # A route to it.
    page.click("nav.subtabs a:has-text('Routes')")
    page.click("text=Add a route")
    page.fill("input[name=name]", "support")
    page.select_option("select[name=domain]", "example.com")
    page.select_option("select[name=target]", label="App (https://app.example.com/incoming)")
    page.select_option("select[name=spam_mode]", "Quarantine")
    page.click("button:has-text('Add route')")
    page.wait_for_url(f"**{SERVER}/routes")
    table = page.inner_text("table.list")
    assert "support@example.com" in table and "App (https://app.example.com/incoming)" in table
    assert re.search(r"[a-z0-9]+@routes\.postal\.test", table)

    # A credential: its key is shown once it is made.
    page.click("nav.tabs a:has-text('Credentials')")
    page.click("text=Add a credential")
    page.select_option("select[name=type]", "API")
    page.fill("input[name=name]", "Shop")
    page.click("button:has-text('Add credential')")
    key = page.inner_text("#credential-key").strip()
    assert len(key) >= 20 and " " not in key
    page.click("text=Back to the credentials")
    assert "Shop" in page.inner_text("table.list")

    # A webhook with chosen events.
    page.click("nav.tabs a:has-text('Webhooks')")
    page.click("text=Add a webhook")
    page.fill("input[name=name]", "Deliveries")
    page.fill("input[name=url]", "https://hooks.example.com/postal")
    page.check("input[name=all_events][value='0']")
    page.check("input[name=events][value=MessageSent]")
    page.check("input[name=events][value=MessageDeliveryFailed]")
    page.click("button:has-text('Add webhook')")
    page.wait_for_url(f"**{SERVER}/webhooks")
    table = page.inner_text("table.list")
    assert "Deliveries" in table and "MessageSent, MessageDeliveryFailed" in table and "Enabled" in table

    # Its history is empty so far; then it is deleted, after the confirmation.
    page.click("text=View history")
    assert "No requests have been sent" in page.inner_text("main")
    page.click("text=Edit the webhook")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Delete webhook')")
    page.wait_for_url(f"**{SERVER}/webhooks")
    assert "The webhook Deliveries has been deleted." in page.inner_text(".flash")
