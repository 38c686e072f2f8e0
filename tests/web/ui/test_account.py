"""The account pages: own settings (details, password, API tokens) and a password reset by e-mail
through a real SMTP sink."""

from __future__ import annotations

import email
import re
import time
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
import requests
from sqlalchemy import select

from core.tenancy.users import check_password
from models.user import User
from tests.support.smtp_sink import SMTPSink
from tests.support.ui import PASSWORD, Browser, Site

LINK_RE = re.compile(r"https://postal\.test/login/reset/([A-Za-z0-9_-]+)")
# Nothing listens on port 1 of 127.0.0.1. (A constant, not a port found at import time, so that
# every pytest-xdist worker collects the same test ids.)
NOBODY_LISTENS = 1


@pytest.fixture
def mail_port(smtp_sink: SMTPSink) -> int:
    """Where the `smtp` section sends the platform's own mail (the sink, unless a test says)."""
    return smtp_sink.port


@pytest.fixture
def ui_config(mail_port: int) -> dict[str, Any]:
    return {"smtp": {"host": "127.0.0.1", "port": mail_port}, "web_ui": {"password_reset_minutes": 30}}


def stored(site: Site, email_address: str) -> User:
    with site.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == email_address))
        assert user is not None
        session.expunge(user)
        return user


# -- /settings ---------------------------------------------------------------------------------


def test_settings_need_a_login(site: Site) -> None:
    reply = Browser(site.base).get("/settings")
    assert reply.status == 303 and reply.location == "/login?return_to=%2Fsettings"


def test_users_change_their_name(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme"))
    page = dev.get("/settings")
    assert page.status == 200 and "My settings" in page and 'value="dev@example.com"' in page.text
    assert "You have no API tokens." in page

    reply = dev.post("/settings", {"first_name": "Dana", "last_name": "Dev", "email_address": "dev@example.com"})

    assert reply.status == 303 and reply.location == "/settings"
    page = dev.follow(reply)
    assert "Your details have been saved." in page and 'value="Dana"' in page.text and "Dana Dev" in page
    assert (stored(site, "dev@example.com").first_name, stored(site, "dev@example.com").last_name) == ("Dana", "Dev")


def test_detail_errors_show_beside_the_form(site: Site) -> None:
    dev = site.browser(site.user("dev@example.com"))
    site.user("taken@example.com")
    details = {"first_name": "Dana", "last_name": "Dev"}

    reply = dev.post("/settings", {**details, "first_name": " ", "email_address": "dev@example.com"})
    assert reply.status == 422 and "can't be blank" in reply

    # A new address needs the current password, and a right one
    reply = dev.post("/settings", {**details, "email_address": "new@example.com"})
    assert reply.status == 422 and "current_password" in reply and 'value="new@example.com"' in reply.text
    reply = dev.post("/settings", {**details, "email_address": "new@example.com", "current_password": "wrong one"})
    assert reply.status == 422 and "is not your current password" in reply
    reply = dev.post("/settings", {**details, "email_address": "taken@example.com", "current_password": PASSWORD})
    assert reply.status == 422 and "has already been taken" in reply
    assert stored(site, "dev@example.com").first_name == ""

    reply = dev.post("/settings", {**details, "email_address": "new@example.com", "current_password": PASSWORD})
    assert reply.status == 303
    assert 'value="new@example.com"' in dev.follow(reply).text
    assert Browser(site.base).login("new@example.com").status == 200


def test_changing_the_password_logs_out_the_other_sessions(site: Site) -> None:
    site.user("dev@example.com")
    dev, elsewhere = site.browser("dev@example.com"), site.browser("dev@example.com")
    change = {"current_password": PASSWORD, "password": "a brand new one", "password_confirmation": "a brand new one"}

    # Mistakes change nothing
    reply = dev.post("/settings/password", {**change, "password_confirmation": "something else"})
    assert reply.status == 422 and "The new passwords do not match." in reply
    reply = dev.post("/settings/password", {**change, "current_password": "not it"})
    assert reply.status == 422 and "is not your current password" in reply
    reply = dev.post("/settings/password", {**change, "password": "short", "password_confirmation": "short"})
    assert reply.status == 422 and "at least 8 characters" in reply
    assert check_password(stored(site, "dev@example.com"), PASSWORD)

    # The right form changes it
    reply = dev.post("/settings/password", change)
    assert reply.status == 303 and "Your password has been changed." in dev.follow(reply)
    user = stored(site, "dev@example.com")
    assert check_password(user, "a brand new one") and not check_password(user, PASSWORD)

    # This session goes on, the other one has ended
    assert dev.get("/settings").status == 200
    assert elsewhere.get("/settings").status == 303
    assert Browser(site.base).login("dev@example.com", "a brand new one").status == 200


def test_users_make_and_revoke_api_tokens(site: Site) -> None:
    dev = site.browser(site.user("dev@example.com"))

    # A new token is shown once, and works with the API
    made = dev.post("/settings/tokens", {"name": "ci runner"})
    assert made.status == 201 and "Copy it now" in made
    found = re.search(r'id="new-token">([^<]+)<', made.text)
    assert found
    token = found.group(1)
    me = requests.get(f"{site.base}/api/v2/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200 and me.json()["user"]["email_address"] == "dev@example.com"
    page = dev.get("/settings")
    assert "ci runner" in page and token not in page.text

    # A nameless one is refused
    reply = dev.post("/settings/tokens", {"name": "  "})
    assert reply.status == 422

    # Another user cannot revoke it; its owner can
    uuid = re.search(r'action="/settings/tokens/([0-9a-f-]+)/revoke"', page.text)
    assert uuid
    other = site.browser(site.user("other@example.com"))
    assert other.post(f"/settings/tokens/{uuid.group(1)}/revoke").status == 404
    reply = dev.post(f"/settings/tokens/{uuid.group(1)}/revoke")
    assert reply.status == 303 and "The API token has been revoked." in dev.follow(reply)
    assert "ci runner" not in dev.get("/settings")
    me = requests.get(f"{site.base}/api/v2/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 401


def test_settings_forms_need_their_security_token(site: Site) -> None:
    dev = site.browser(site.user("dev@example.com"))
    reply = dev.post("/settings", {"first_name": "X", "last_name": "Y", "email_address": "dev@example.com"}, csrf=False)
    assert reply.status == 403 and stored(site, "dev@example.com").first_name == ""


# -- password reset ----------------------------------------------------------------------------


def reset_mail(sink: SMTPSink, count: int = 1) -> tuple[Message, str]:
    received = sink.wait_for(count, timeout=10)[count - 1]
    message = email.message_from_bytes(received.data)
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = LINK_RE.search(body.decode())
    assert found, body
    return message, found.group(1)


def test_a_forgotten_password_is_reset_through_an_emailed_link(site: Site, smtp_sink: SMTPSink) -> None:
    site.user("dev@example.com")
    logged_in = site.browser("dev@example.com")
    visitor = Browser(site.base)

    # The login page links to the form, which asks for an address
    assert 'href="/login/reset"' in visitor.get("/login").text
    form = visitor.get("/login/reset")
    assert form.status == 200 and "Reset your password" in form

    # Asking sends a link built from the configured host, whatever the request said
    reply = visitor.post(
        "/login/reset", {"email_address": " Dev@Example.com "}, headers={"X-Forwarded-Host": "evil.test"}
    )
    assert reply.status == 200 and "If an account uses that address, we have sent it a link" in reply
    message, token = reset_mail(smtp_sink)
    assert message["To"] == "dev@example.com" and message["Subject"] == "Reset your Postal password"
    assert "within 30 minutes" in str(message.get_payload(decode=True))
    user = stored(site, "dev@example.com")
    assert user.password_reset_token not in (None, token) and user.password_reset_token_valid_until is not None

    # The link shows a form; mistakes are shown beside it
    page = visitor.get(f"/login/reset/{token}")
    assert page.status == 200 and "Choose a new password" in page and "dev@example.com" in page
    new = {"password": "my new password", "password_confirmation": "my new password"}
    reply = visitor.post(f"/login/reset/{token}", {**new, "password_confirmation": "typo"})
    assert reply.status == 422 and "The new passwords do not match." in reply
    reply = visitor.post(f"/login/reset/{token}", {"password": "short", "password_confirmation": "short"})
    assert reply.status == 422 and "at least 8 characters" in reply

    # Setting it logs out every session and points to the login page
    reply = visitor.post(f"/login/reset/{token}", new)
    assert reply.status == 303 and reply.location == "/login"
    assert "Your password has been changed. Log in with your new password." in visitor.follow(reply)
    assert logged_in.get("/settings").status == 303
    assert Browser(site.base).login("dev@example.com", "my new password").status == 200
    assert stored(site, "dev@example.com").password_reset_token is None

    # The link works once
    used = visitor.get(f"/login/reset/{token}")
    assert used.status == 404 and "has expired or was used" in used
    assert visitor.post(f"/login/reset/{token}", new).status == 404


def test_unknown_addresses_get_the_same_answer_and_no_mail(site: Site, smtp_sink: SMTPSink) -> None:
    reply = Browser(site.base).post("/login/reset", {"email_address": "nobody@example.com"}, csrf=False)
    assert reply.status == 403  # the form's security token is checked here too
    visitor = Browser(site.base)
    visitor.get("/login/reset")
    reply = visitor.post("/login/reset", {"email_address": "nobody@example.com"})
    assert reply.status == 200 and "If an account uses that address, we have sent it a link" in reply
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(1, timeout=0.5)


def test_expired_and_made_up_links_are_refused(site: Site, smtp_sink: SMTPSink) -> None:
    site.user("dev@example.com")
    visitor = Browser(site.base)
    visitor.get("/login/reset")
    visitor.post("/login/reset", {"email_address": "dev@example.com"})
    _, token = reset_mail(smtp_sink)
    with site.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == "dev@example.com"))
        assert user is not None and user.password_reset_token_valid_until is not None
        user.password_reset_token_valid_until -= timedelta(minutes=31)

    for path in (f"/login/reset/{token}", "/login/reset/made-up-token"):
        page = visitor.get(path)
        assert page.status == 404 and "has expired or was used" in page
    reply = visitor.post(
        f"/login/reset/{token}", {"password": "my new password", "password_confirmation": "my new password"}
    )
    assert reply.status == 404 and check_password(stored(site, "dev@example.com"), PASSWORD)


def test_reset_requests_are_throttled(site: Site, smtp_sink: SMTPSink) -> None:
    site.user("dev@example.com")
    visitor = Browser(site.base)
    visitor.get("/login/reset")
    limit = site.runtime.config.web_ui.login_failures_per_account
    for _ in range(limit):
        assert visitor.post("/login/reset", {"email_address": "dev@example.com"}).status == 200
    reply = visitor.post("/login/reset", {"email_address": "dev@example.com"})
    assert reply.status == 429 and "Too many requests" in reply and reply.headers["Retry-After"]
    assert len(smtp_sink.wait_for(limit, timeout=10)) == limit
    # Asking for links does not lock the account's password logins.
    assert Browser(site.base).login("dev@example.com").status == 200


@pytest.mark.parametrize("mail_port", [NOBODY_LISTENS], ids=["closed-port"])
def test_a_mail_failure_is_logged_and_answered_the_same(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    site.user("dev@example.com")
    visitor = Browser(site.base)
    visitor.get("/login/reset")
    reply = visitor.post("/login/reset", {"email_address": "dev@example.com"})
    assert reply.status == 200 and "If an account uses that address, we have sent it a link" in reply
    # The mail is sent beside the answer: its failure is logged a moment later.
    deadline = time.monotonic() + 15
    while not any("password reset link for user" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the failure was not logged"
        time.sleep(0.05)
