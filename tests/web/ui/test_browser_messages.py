"""The Messages tab in a real browser: send a test message, look at its page and tabs, release a
held message from the Held list in bulk, and import a suppression list from a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.enums import ServerMode
from tests.conftest import Installation
from tests.support.outgoing import change_server, message, run_queue
from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser
SERVER = "/org/acme/servers/main"


def test_send_look_release_and_suppress(page: Any, installation: Installation, tmp_path: Path) -> None:
    log_in(page, "admin@example.com")
    page.goto(f"{SERVER}/messages/outgoing")
    page.click(".subtabs a:has-text('Send message')")
    page.fill("input[name=from]", "Shop <shop@example.com>")
    page.fill("input[name=to]", "someone@example.net")
    page.fill("input[name=subject]", "Browser test")
    page.fill("textarea[name=plain_body]", "Hello from the browser")
    page.fill("textarea[name=html_body]", "<p>Hello <b>from the browser</b></p>")
    page.click("button:has-text('Send message')")
    page.wait_for_url(f"**{SERVER}/messages/1")
    assert "The test message was queued." in page.inner_text(".flash")
    assert "someone@example.net" in page.inner_text("dl.properties")

    page.click(".message-tabs a:has-text('Headers')")
    assert "subject" in page.inner_text("table.headers")
    page.click(".message-tabs a:has-text('Plain text')")
    assert "Hello from the browser" in page.inner_text("pre.message-plain")
    page.click(".message-tabs a:has-text('HTML')")
    frame = page.locator("iframe.message-html")
    assert frame.get_attribute("sandbox") == ""
    assert "from the browser" in page.frame_locator("iframe.message-html").locator("b").inner_text()
    page.click(".message-tabs a:has-text('Activity')")
    assert "Nothing has happened" in page.inner_text("main")

    # Development mode holds the message when the queue runs.
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    run_queue(installation)
    page.goto(f"{SERVER}/messages/outgoing")
    page.click(".subtabs a:has-text('Held')")
    assert "Browser test" in page.inner_text("table.messages")
    page.check("input[data-select-all=ids]")
    assert page.locator("input[name=ids]").first.is_checked()
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Release selected')")
    page.wait_for_selector(".flash")
    assert "Released 1 message." in page.inner_text(".flash")
    assert message(installation, 1)["held"] is True  # queued to run now, skipping development mode
    run_queue(installation)
    assert message(installation, 1)["status"] != "Held"

    csv = tmp_path / "suppressions.csv"
    csv.write_text("address,reason\nbounced@example.net,bounced\nquiet@example.net,complained\n")
    page.click(".subtabs a:has-text('Suppressions')")
    page.set_input_files("input[name=file]", str(csv))
    page.click("button:has-text('Import')")
    page.wait_for_selector(".flash")
    assert "Imported 2 entries." in page.inner_text(".flash")
    table = page.inner_text("table.suppressions")
    assert "bounced@example.net" in table and "quiet@example.net" in table and "complained" in table
