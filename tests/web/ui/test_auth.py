"""Logging in and out, sessions, CSRF and the security headers of every page."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from sqlalchemy import select

from models.ui_session import LoginFailure
from models.user import User
from tests.support.ui import Site


def test_pages_need_a_login_and_the_login_returns_there(site: Site) -> None:
    browser = site.browser()
    reply = browser.get("/org/acme")
    assert reply.status == 303 and reply.location == "/login?return_to=%2Forg%2Facme"
    login = browser.get("/login?return_to=%2F")
    assert login.status == 200 and "Log in to Postal" in login
    done = browser.post("/login", {"email_address": "ADMIN@example.com", "password": "correct horse battery"})
    assert done.status == 303 and done.location == "/"
    cookie = next(c for c in browser.http.cookies if c.name == "postal_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Lax"
    home = browser.get("/")
    assert home.status == 200 and "ACME Inc" in home


def test_a_wrong_password_is_refused_and_logins_are_throttled(site: Site) -> None:
    browser = site.browser()
    browser.get("/login")
    for _ in range(5):
        reply = browser.post("/login", {"email_address": "admin@example.com", "password": "wrong"})
        assert reply.status == 403 and "incorrect" in reply
    reply = browser.post("/login", {"email_address": "admin@example.com", "password": "correct horse battery"})
    assert reply.status == 429 and "Too many failed logins" in reply and reply.headers["Retry-After"]


def test_csrf_token_is_required_on_every_post(site: Site) -> None:
    browser = site.browser("admin@example.com")
    refused = browser.post("/logout", csrf=False)
    assert refused.status == 403 and "security token" in refused
    assert browser.post("/logout", {"_csrf": "forged-token-forged-token"}).status == 403
    assert browser.get("/").status == 200  # still logged in
    assert browser.post("/logout").status == 303
    assert browser.get("/").status == 303


def test_security_headers_and_html_404(site: Site) -> None:
    browser = site.browser("admin@example.com")
    page = browser.get("/no/such/page")
    assert page.status == 404 and "Page not found" in page
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert browser.get("/api/v2/nothing").headers["Content-Type"].startswith("application/json")
    assert browser.get("/assets/ui/app.css").status == 200


def test_cookies_are_secure_behind_a_tls_proxy(site: Site) -> None:
    browser = site.browser()
    reply = browser.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in reply.headers["Set-Cookie"] and "HttpOnly" in reply.headers["Set-Cookie"]
    assert "Secure" not in browser.get("/login").headers.get("Set-Cookie", "Secure-free")


def test_a_postal_bcrypt_password_logs_in_and_is_rehashed(site: Site) -> None:
    # Given a user carried over from Postal with a bcrypt digest
    digest = bcrypt.hashpw(b"from postal 2", bcrypt.gensalt(rounds=4)).decode()
    with site.runtime.db.transaction() as session:
        session.add(User(email_address="old@example.com", password_digest=digest))
    # When they log in with their old password, it works and the digest becomes argon2id
    site.browser().login("old@example.com", "from postal 2")
    with site.runtime.db.transaction() as session:
        stored = session.scalar(select(User.password_digest).where(User.email_address == "old@example.com"))
    assert stored is not None and stored.startswith("$argon2id$")
    site.browser().login("old@example.com", "from postal 2")


def test_logging_in_starts_a_new_session_and_logging_out_ends_it(site: Site) -> None:
    browser = site.browser("admin@example.com")
    first = browser.http.cookies["postal_session"]
    browser.login("admin@example.com")
    assert browser.http.cookies["postal_session"] != first
    stolen = site.browser()
    stolen.http.cookies.set("postal_session", browser.http.cookies["postal_session"])
    assert stolen.get("/").status == 200
    browser.post("/logout")
    assert stolen.get("/").status == 303


@pytest.fixture
def ui_config() -> dict[str, Any]:
    return {"postal": {"trusted_proxies": ["127.0.0.0/8"]}}


def test_behind_a_trusted_proxy_logins_are_throttled_by_the_clients_address(site: Site) -> None:
    # Given the web server behind a proxy on 127.0.0.1 that says who its clients are
    attacker = site.browser()
    attacker.get("/login")
    for _ in range(5):
        attacker.post("/login", {"email_address": f"x{_}@example.com", "password": "wrong"},
                      headers={"X-Forwarded-For": "198.51.100.7"})  # fmt: skip
    with site.runtime.db.transaction() as session:
        recorded = set(session.scalars(select(LoginFailure.ip_address)))
    # Then the failures are the client's, so another client behind the same proxy is not locked out
    assert recorded == {"198.51.100.7"}
    assert site.browser().login("admin@example.com").status == 200
