"""Logging in through an OpenID Connect provider: a real provider on 127.0.0.1, the browser's
redirects followed by hand."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from models.user import User
from tests.support.oidc_provider import CLIENT_ID, Provider
from tests.support.ui import Browser, Page, Site


@pytest.fixture
def oidc_changes() -> dict[str, Any]:
    """Changes to the provider's `oidc` section for one test (parametrize to change)."""
    return {}


@pytest.fixture
def ui_config(provider: Provider, oidc_changes: dict[str, Any]) -> dict[str, Any]:
    # `{issuer}` in a value is the provider's address, known only once it runs.
    changes = {k: v.format(issuer=provider.issuer) if isinstance(v, str) else v for k, v in oidc_changes.items()}
    return {"oidc": provider.config(**changes)}


def start(browser: Browser, return_to: str = "/") -> Page:
    """Press "Log in with Test ID" on the login page: the answer sends the browser to the provider."""
    login = browser.get("/login?return_to=" + return_to)
    assert "Log in with Test ID" in login
    return browser.post("/login/oidc", {"return_to": return_to})


def onward(reply: Page) -> str:
    """Where the page after the button sends the browser (a refresh and a link, the same URL)."""
    assert reply.status == 200, reply.text
    found = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', reply.text)
    link = re.search(r'id="oidc-continue" href="([^"]+)"', reply.text)
    assert found and link and found.group(1) == link.group(1)
    return html.unescape(found.group(1))


def through_provider(browser: Browser, reply: Page) -> tuple[str, Page]:
    """Follow the way to the provider's `/authorize` and its redirect back; the callback's answer."""
    authorize = requests.get(onward(reply), allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text
    back = authorize.headers["Location"]
    return back, browser.get(back.removeprefix(browser.base))


def log_in(browser: Browser, return_to: str = "/") -> Page:
    _, answer = through_provider(browser, start(browser, return_to))
    return answer


def user_row(site: Site, email: str) -> User:
    with site.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == email))
        assert user is not None
        session.expunge(user)
        return user


def test_the_full_flow_links_the_account_by_email_then_by_subject(site: Site, provider: Provider) -> None:
    site.member("dev@example.com", "acme")
    provider.claims = {"sub": "dev-42", "email": "Dev@Example.com", "email_verified": True, "name": "Dana Dev"}
    browser = Browser(site.base)

    # The request to the provider carries our client, state, nonce and an S256 PKCE challenge
    sent = start(browser, "/org/acme")
    assert onward(sent).startswith(f"{provider.issuer}/authorize?")
    query = {k: v[-1] for k, v in parse_qs(urlsplit(onward(sent)).query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == f"{site.base}/login/oidc/callback"
    assert query["code_challenge_method"] == "S256" and query["state"] and query["nonce"]
    assert "openid" in query["scope"].split()
    assert "HttpOnly" in sent.headers["Set-Cookie"] and "SameSite=Lax" in sent.headers["Set-Cookie"]
    assert sent.text.count(query["state"]) == 2  # the refresh and the link, nowhere else

    # Coming back logs in (matched by address), and goes where the user was going
    _, answer = through_provider(browser, sent)
    assert answer.status == 303 and answer.location == "/org/acme"
    assert "Dana" in browser.get("/settings") and browser.get("/org/acme").status == 200
    assert "POST /token" in provider.requests and "GET /userinfo" in provider.requests

    # The account is now linked to the provider's subject and has no password, as in Postal
    user = user_row(site, "dev@example.com")
    assert (user.oidc_uid, user.oidc_issuer, user.password_digest) == ("dev-42", provider.issuer, None)
    assert (user.first_name, user.last_name) == ("Dana", "Dev")
    assert "you log in through your identity provider" in browser.get("/settings")

    # Next time the subject finds it, whatever address the provider now gives
    provider.claims = {"sub": "dev-42", "email": "dana@elsewhere.example"}
    again = Browser(site.base)
    assert log_in(again).status == 303
    assert 'value="dev@example.com"' in again.get("/settings").text


def test_nobody_without_an_account_is_let_in(site: Site, provider: Provider) -> None:
    provider.claims = {"sub": "stranger", "email": "stranger@example.com"}
    browser = Browser(site.base)
    answer = log_in(browser)
    assert answer.status == 403 and "No Postal account uses stranger@example.com" in answer
    assert "ask an administrator" in answer.text.lower()
    assert browser.get("/settings").status == 303


def test_an_unverified_address_links_no_account(site: Site, provider: Provider) -> None:
    site.user("dev@example.com")
    provider.claims = {"sub": "sneaky", "email": "dev@example.com", "email_verified": False}
    answer = log_in(Browser(site.base))
    assert answer.status == 403 and user_row(site, "dev@example.com").oidc_uid is None


def test_an_already_linked_account_is_not_taken_over_by_address(site: Site, provider: Provider) -> None:
    site.user("dev@example.com")
    provider.claims = {"sub": "first", "email": "dev@example.com"}
    assert log_in(Browser(site.base)).status == 303
    provider.claims = {"sub": "second", "email": "dev@example.com"}
    assert log_in(Browser(site.base)).status == 403
    assert user_row(site, "dev@example.com").oidc_uid == "first"


def test_a_tampered_or_missing_state_is_refused(site: Site, provider: Provider) -> None:
    site.user("admin2@example.com")
    provider.claims = {"sub": "a2", "email": "admin2@example.com"}
    browser = Browser(site.base)
    sent = start(browser)
    authorize = requests.get(onward(sent), allow_redirects=False, timeout=10)
    back = authorize.headers["Location"]
    query = {k: v[-1] for k, v in parse_qs(urlsplit(back).query).items()}
    forged = "/login/oidc/callback?" + urlencode({"code": query["code"], "state": query["state"] + "x"})

    answer = browser.get(forged)

    assert answer.status == 400 and "expired or was started in another browser" in answer
    assert browser.get("/settings").status == 303
    # A callback in a browser that never started a login is refused too
    stranger = Browser(site.base)
    assert stranger.get(back.removeprefix(site.base)).status == 400
    assert user_row(site, "admin2@example.com").oidc_uid is None


def test_a_bad_signature_is_refused(site: Site, provider: Provider) -> None:
    site.user("dev@example.com")
    provider.claims = {"sub": "dev", "email": "dev@example.com"}
    provider.sign_with = rsa.generate_private_key(65537, 2048)
    browser = Browser(site.base)
    answer = log_in(browser)
    assert answer.status == 502 and "id_token could not be verified" in answer
    assert browser.get("/settings").status == 303 and user_row(site, "dev@example.com").oidc_uid is None


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-client"},
        {"iss": "http://127.0.0.1:1"},
        {"exp": 1_000_000},
        {"nonce": "not-ours"},
        {"nonce": None},
    ],
)
def test_id_tokens_for_someone_else_are_refused(site: Site, provider: Provider, changes: dict[str, Any]) -> None:
    site.user("dev@example.com")
    provider.claims = {"sub": "dev", "email": "dev@example.com"}
    provider.id_token_changes = changes
    browser = Browser(site.base)
    answer = log_in(browser)
    assert answer.status == 502 and "id_token could not be verified" in answer
    assert browser.get("/settings").status == 303


def test_an_unreachable_provider_is_a_clear_error(site: Site, provider: Provider) -> None:
    browser = Browser(site.base)
    browser.get("/login")
    provider.stop()
    answer = browser.post("/login/oidc", {"return_to": "/"})
    assert answer.status == 502 and "cannot be reached just now" in answer


@pytest.mark.parametrize("oidc_changes", [{"discovery": False}])
def test_without_discovery_the_endpoints_must_be_configured(site: Site, provider: Provider) -> None:
    answer = start(Browser(site.base))
    assert answer.status == 503 and "endpoint is not known" in answer
    assert "GET /.well-known/openid-configuration" not in provider.requests


ENDPOINTS = {
    "discovery": False,
    "authorization_endpoint": "{issuer}/authorize",
    "token_endpoint": "{issuer}/token",
    "jwks_uri": "{issuer}/jwks",
}


@pytest.mark.parametrize("oidc_changes", [ENDPOINTS])
def test_configured_endpoints_replace_discovery(site: Site, provider: Provider) -> None:
    site.user("dev@example.com")
    provider.claims = {"sub": "dev", "email": "dev@example.com"}
    browser = Browser(site.base)
    assert log_in(browser).status == 303 and browser.get("/settings").status == 200
    # Without a userinfo endpoint the id_token's claims are all there is.
    assert "GET /.well-known/openid-configuration" not in provider.requests
    assert "GET /userinfo" not in provider.requests


@pytest.mark.parametrize("oidc_changes", [{"local_authentication_enabled": False}])
def test_with_local_authentication_off_only_the_provider_logs_in(site: Site, provider: Provider) -> None:
    browser = Browser(site.base)
    login = browser.get("/login")
    assert "Log in with Test ID" in login and 'name="password"' not in login.text
    assert "Forgotten your password?" not in login
    reply = browser.post("/login", {"email_address": "admin@example.com", "password": "correct horse battery"})
    assert reply.status == 403 and "turned off" in reply
    for reply in (browser.get("/login/reset"), browser.post("/login/reset", {"email_address": "admin@example.com"})):
        assert reply.status == 403 and "Logging in with a password is turned off here." in reply

    provider.claims = {"sub": "root", "email": "admin@example.com"}
    assert log_in(browser).status == 303 and browser.get("/settings").status == 200


def test_provider_errors_are_shown(site: Site, provider: Provider) -> None:
    browser = Browser(site.base)
    state = parse_qs(urlsplit(onward(start(browser))).query)["state"][0]
    query = urlencode({"error": "access_denied", "error_description": "You said no", "state": state})
    answer = browser.get(f"/login/oidc/callback?{query}")
    assert answer.status == 403 and "Test ID did not log you in: You said no" in answer


@pytest.mark.parametrize("oidc_changes", [{"enabled": False}])
def test_oidc_pages_do_not_exist_when_it_is_off(site: Site, provider: Provider) -> None:
    browser = Browser(site.base)
    login = browser.get("/login")
    assert "Log in with" not in login and 'name="password"' in login.text
    assert browser.post("/login/oidc", {"return_to": "/"}).status == 404
    assert browser.get("/login/oidc/callback?code=x&state=y").status == 404
    assert provider.requests == []
