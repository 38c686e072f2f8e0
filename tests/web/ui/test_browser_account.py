"""The account pages in a real browser: settings, a new password, the reset form, and logging in
through the OpenID Connect provider."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.oidc_provider import Provider
from tests.support.ui import PASSWORD, Site
from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def ui_config(provider: Provider) -> dict[str, Any]:
    return {"oidc": provider.config()}


def test_settings_change_name_and_password_then_log_in_again(page: Any, site: Site) -> None:
    site.user("dev@example.com")
    log_in(page, "dev@example.com")

    # The name in the top bar leads to the settings
    page.click("header >> text=dev@example.com")
    page.wait_for_url("**/settings")
    page.fill("#f-first_name", "Dana")
    page.fill("#f-last_name", "Dev")
    page.click("button:has-text('Save details')")
    page.wait_for_selector("text=Your details have been saved.")
    assert page.locator("header").inner_text().count("Dana Dev") == 1

    page.fill("#p-current", PASSWORD)
    page.fill("#p-new", "a brand new password")
    page.fill("#p-again", "a brand new password")
    page.click("button:has-text('Change password')")
    page.wait_for_selector("text=Your password has been changed.")

    page.click("header button:has-text('Log out')")
    page.wait_for_selector("text=You have been logged out.")
    log_in(page, "dev@example.com", "a brand new password")
    assert "Dana Dev" in page.locator("header").inner_text()


def test_the_password_reset_form_renders(page: Any, site: Site) -> None:
    page.goto("/login")
    page.click("text=Forgotten your password?")
    page.wait_for_url("**/login/reset")
    assert page.locator("h1").inner_text() == "Reset your password"
    page.fill("input[name=email_address]", "nobody@example.com")
    page.click("button:has-text('Send me a link')")
    page.wait_for_selector("text=If an account uses that address, we have sent it a link")


def test_logging_in_with_the_provider(page: Any, site: Site, provider: Provider) -> None:
    site.user("dev@example.com", first_name="Dana")
    provider.claims = {"sub": "dev-1", "email": "dev@example.com"}
    page.goto("/login")
    page.click("button:has-text('Log in with Test ID')")
    page.wait_for_url(lambda url: "/login" not in url)
    assert "Dana" in page.locator("header").inner_text()
    assert "POST /token" in provider.requests
