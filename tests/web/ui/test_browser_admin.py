"""The admin pages in a real browser: a user made and put in an organization, an IP pool with an
address, and a non-admin refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.ui import Site
from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser


def test_an_admin_creates_a_user_and_an_ip_pool(page: Any, site: Site) -> None:
    log_in(page, "admin@example.com")

    # A new user, then a place in acme
    page.click("nav.topnav >> text=Users")
    page.wait_for_url("**/users")
    page.click("text=New user")
    page.fill("input[name=email]", "casey@example.com")
    page.fill("input[name=first_name]", "Casey")
    page.fill("input[name=last_name]", "Jones")
    page.fill("input[name=password]", "long enough")
    page.click("button:has-text('Create user')")
    page.wait_for_url("**/edit")
    assert "casey@example.com has been created" in page.inner_text(".flash")
    page.select_option("select[name=organization]", "acme")
    page.select_option("form[action$='/organizations'] select[name=role]", "admin")
    page.click("button:has-text('Add to organization')")
    assert "Added to ACME Inc" in page.inner_text(".flash")
    assert page.locator("table.list >> text=ACME Inc").count() == 1
    page.click("nav.topnav >> text=Users")
    row = page.locator("tr", has_text="casey@example.com")
    assert "ACME Inc" in row.inner_text() and "(admin)" in row.inner_text()

    # An IP pool with an address
    page.click("nav.topnav >> text=IP pools")
    page.click("text=New IP pool")
    page.fill("input[name=name]", "Outbound")
    page.click("button:has-text('Create IP pool')")
    assert "Outbound has been created" in page.inner_text(".flash")
    page.fill("input[name=ipv4]", "192.0.2.44")
    page.fill("input[name=hostname]", "mx44.example.com")
    page.click("button:has-text('Add address')")
    assert "192.0.2.44 has been added" in page.inner_text(".flash")
    assert page.locator("td", has_text="mx44.example.com").count() == 1
    page.click("nav.topnav >> text=IP pools")
    assert "1" in page.locator("tr", has_text="Outbound").inner_text()

    # Removing the address asks first
    page.click("text=Outbound")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("tr:has-text('192.0.2.44') >> button:has-text('Remove')")
    assert "has been removed from the pool" in page.inner_text(".flash")


def test_a_non_admin_is_refused_the_users_page(page: Any, site: Site) -> None:
    site.member("member@example.com", "acme")
    log_in(page, "member@example.com")
    assert page.locator("nav.topnav >> text=Users").count() == 0
    reply = page.goto("/users")
    assert reply is not None and reply.status == 403
    assert "only global administrators" in page.inner_text("main")
