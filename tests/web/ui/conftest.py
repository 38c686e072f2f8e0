"""Fixtures of the web UI tests: the site over SQLite (the UI's behaviour does not depend on the
database, which the API tests cover on both), an administrator, and a headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Config, build_config
from core.runtime import Runtime
from tests.conftest import Backend, merge
from tests.support.oidc_provider import Provider
from tests.support.ui import Site, live_site

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    return sqlite_backend


@pytest.fixture
def config(config_data: dict[str, Any], ui_config: dict[str, Any]) -> Config:
    return build_config(merge(config_data, ui_config), environ={})


@pytest.fixture
def ui_config() -> dict[str, Any]:
    """Extra postal.yml sections for a test (override in a module)."""
    return {}


@pytest.fixture
def site(installation: Any, runtime: Runtime) -> Iterator[Site]:
    """The web UI on a real socket over an installation (organization `acme`, server `main`,
    domain example.com), with a global administrator admin@example.com."""
    with live_site(runtime) as live:
        live.user("admin@example.com", admin=True, first_name="Ada")
        yield live


@pytest.fixture
def provider() -> Iterator[Provider]:
    """A small OpenID Connect provider on 127.0.0.1 (point `oidc` at it with `ui_config`)."""
    started = Provider().start()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        from tests.conftest import IN_CI

        message = "Debian's chromium is not installed (scripts/setup-env --dev installs it)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, site: Site) -> Iterator[Any]:
    """A fresh browser tab (own cookies) on the site. JavaScript errors, console errors and any
    asset, script or image answering 4xx/5xx fail the test; pages themselves may answer 4xx (a
    form error is a 422 page)."""
    context = chromium.new_context(base_url=site.base, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    def console(msg: Any) -> None:
        # Chromium logs every 4xx answer as "Failed to load resource"; those are judged below.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(msg.text)

    def response(reply: Any) -> None:
        if reply.status >= 400 and reply.request.resource_type not in ("document",):
            errors.append(f"{reply.request.resource_type} {reply.url} answered {reply.status}")

    tab.on("console", console)
    tab.on("response", response)
    yield tab
    context.close()
    assert not errors, f"errors in the browser: {errors}"


def log_in(tab: Any, email: str, password: str | None = None) -> None:
    from tests.support.ui import PASSWORD

    tab.goto("/login")
    tab.fill("input[name=email_address]", email)
    tab.fill("input[name=password]", password or PASSWORD)
    tab.click("button:has-text('Log in')")
    tab.wait_for_url(lambda url: "/login" not in url)
