"""`PATCH /me`: users change their own name, e-mail address and password over the management API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.tenancy.users import check_password
from models.user import User
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api

PASSWORD = "secret-password"  # what tests.support.api_v2 gives its users


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def stored(api: LiveAPI, email: str) -> User | None:
    with api.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == email))
        if user is not None:
            session.expunge(user)
        return user


def field_of(reply: object) -> str:
    body = getattr(reply, "body")  # noqa: B009 - a Reply
    return str(body["error"]["details"][0]["field"])


def test_users_change_their_names_without_their_password(api: LiveAPI) -> None:
    dev = api.user("dev@example.com")

    reply = dev.patch("/me", {"first_name": " Dana ", "last_name": "Dev", "email": "DEV@example.com"})

    assert reply.status == 200
    assert (reply.body["first_name"], reply.body["last_name"], reply.body["email_address"]) == (
        "Dana", "Dev", "dev@example.com",
    )  # fmt: skip
    assert dev.get("/me").body["user"]["first_name"] == "Dana"
    assert (dev.get("/me").body["local_login"], dev.get("/me").body["oidc_linked"]) == (True, False)


def test_a_new_email_address_or_password_needs_the_current_password(api: LiveAPI) -> None:
    dev = api.user("dev@example.com")
    api.user("taken@example.com")

    # Without it, or with a wrong one, nothing changes
    for body in (
        {"email": "new@example.com"},
        {"password": "a new password"},
        {"email": "new@example.com", "current_password": "wrong password"},
        {"password": "a new password", "current_password": ""},
    ):
        reply = dev.patch("/me", body)
        assert (reply.status, reply.code, field_of(reply)) == (422, "validation_failed", "current_password"), body
    user = stored(api, "dev@example.com")
    assert user is not None and check_password(user, PASSWORD)

    # With it, the address and the password change
    reply = dev.patch("/me", {"email": "new@example.com", "password": "a new password", "current_password": PASSWORD})
    assert reply.status == 200 and reply.body["email_address"] == "new@example.com"
    user = stored(api, "new@example.com")
    assert user is not None and check_password(user, "a new password") and not check_password(user, PASSWORD)
    assert "password" not in reply.raw.decode()

    # And the usual rules still apply
    reply = dev.patch("/me", {"email": "taken@example.com", "current_password": "a new password"})
    assert (reply.status, field_of(reply)) == (422, "email")
    reply = dev.patch("/me", {"password": "short", "current_password": "a new password"})
    assert (reply.status, field_of(reply)) == (422, "password")
    reply = dev.patch("/me", {"first_name": "  "})
    assert (reply.status, field_of(reply)) == (422, "first_name")
    assert dev.as_(None).patch("/me", {"first_name": "Nobody"}).status == 401


def test_an_account_without_a_password_cannot_change_its_address(api: LiveAPI) -> None:
    dev = api.user("dev@example.com")
    with api.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == "dev@example.com"))
        assert user is not None
        user.password_digest = None

    reply = dev.patch("/me", {"email": "new@example.com", "current_password": "anything"})

    assert (reply.status, field_of(reply)) == (422, "current_password")
    assert "no password" in reply.body["error"]["details"][0]["message"]
    assert dev.get("/me").body["local_login"] is False
    # The same address in another case is no change, so it needs no password.
    assert dev.patch("/me", {"email": "Dev@Example.com", "first_name": "Dana"}).status == 200
