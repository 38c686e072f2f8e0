"""The server pages in a real browser: the overview's graph, adding a domain and checking its
records, changing a setting, suspending and unsuspending."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser
SERVER = "/org/acme/servers/main"


def test_admin_walks_through_a_server(page: Any, zone: Any) -> None:
    log_in(page, "admin@example.com")
    page.goto(SERVER)
    page.wait_for_selector(".chart[data-rendered=true]")
    assert page.locator(".chart canvas").count() == 1

    page.click(".tabs a:has-text('Domains')")
    page.click("text=Add a domain")
    page.fill("input[name=name]", "browser.example.net")
    page.click("button:has-text('Add domain')")
    page.wait_for_url("**/setup")
    assert "browser.example.net has been added." in page.locator(".flash").inner_text()
    zone.add("browser.example.net", "TXT", "v=spf1 a mx include:spf.postal.test ~all")
    page.click("button:has-text('Check my records')")
    page.wait_for_selector(".flash")
    assert "Some records are missing or wrong" in page.locator(".flash").inner_text()
    assert page.locator(".badge-ok:has-text('SPF')").count() == 1

    page.click(".tabs a:has-text('Settings')")
    page.fill("input[name=name]", "Main Mail")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector(".flash")
    assert "The settings have been saved." in page.locator(".flash").inner_text()
    assert "Main Mail" in page.locator(".context-bar h1").inner_text()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click(".subtabs a:has-text('Suspension')")
    page.fill("input[name=reason]", "Testing suspension")
    page.click("button:has-text('Suspend this server')")
    page.wait_for_selector("text=Unsuspend this server")
    assert "Suspended" in page.locator(".context-bar h1").inner_text()
    page.click("button:has-text('Unsuspend this server')")
    page.wait_for_selector("text=The server has been unsuspended.")
    assert "Suspended" not in page.locator(".context-bar h1").inner_text()
