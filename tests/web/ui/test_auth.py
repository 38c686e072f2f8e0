"""Logging in and out, sessions, CSRF and the security headers of every page."""

from __future__ import annotations

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
