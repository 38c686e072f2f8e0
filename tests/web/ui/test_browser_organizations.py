"""The organization pages in a real browser: create an organization and a server, add a member and
an IP rule, then delete the organization with the password."""

from __future__ import annotations

from typing import Any

import pytest

from core.tenancy.ip_pools import create_pool
from tests.support.ui import PASSWORD, Site
from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser


def test_an_admin_sets_up_and_deletes_an_organization(page: Any, site: Site) -> None:
    site.user("dev@example.com", first_name="Dev")
    with site.runtime.db.transaction() as session:
        create_pool(session, "Transactional", "transactional")
    log_in(page, "admin@example.com")

    page.click("text=New organization")
    page.fill("input[name=name]", "Globex Corp")
    page.fill("input[name=permalink]", "globex")
    page.select_option("select[name=time_zone]", "Europe/Paris")
    page.click("button:has-text('Create organization')")
    page.wait_for_url("**/org/globex")
    assert "Globex Corp has been created." in page.content()

    page.click("text=New mail server")
    page.fill("input[name=name]", "Newsletters")
    page.select_option("select[name=mode]", "Development")
    page.click("button:has-text('Create mail server')")
    page.wait_for_url("**/org/globex/servers/newsletters")

    page.goto("/org/globex/users")
    page.fill("input[name=email]", "dev@example.com")
    page.check("input[name=access][value=chosen]")
    page.check("input[name=servers][value=newsletters]")
    page.click("button:has-text('Add member')")
    page.wait_for_selector("text=dev@example.com is now a member.")
    assert page.locator("table.list").inner_text().count("newsletters") == 1

    page.click("nav.tabs >> text=IP rules")
    page.wait_for_url("**/org/globex/ip_rules")
    page.select_option("select[name=ip_pool]", label="Transactional (transactional)")
    page.fill("textarea[name=from]", "billing@globex.example")
    page.click("button:has-text('Add rule')")
    page.wait_for_selector("text=The IP rule has been added.")
    assert "billing@globex.example" in page.locator("table.list").inner_text()

    page.click("nav.tabs >> text=Delete")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Delete this organization')")
    page.wait_for_selector("text=Globex Corp has been deleted.")
    assert page.url.rstrip("/") == site.base
    assert "Globex Corp" not in page.locator("main").inner_text().replace("Globex Corp has been deleted.", "")
