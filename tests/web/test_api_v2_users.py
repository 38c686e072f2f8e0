"""Users (global administrators) and `/me` (anyone with a token) over the management API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.tenancy.users import check_password
from models.user import User
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def stored_user(api: LiveAPI, email: str) -> User | None:
    with api.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == email))
        if user is not None:
            session.expunge(user)
        return user


def test_global_admins_create_list_change_and_delete_users(api: LiveAPI) -> None:
    # Given a global administrator
    # When they create a user
    created = api.admin.post(
        "/users",
        {"email": "Jane@Example.com", "first_name": "Jane", "last_name": "Doe", "password": "correct horse"},
    )

    # Then the user exists, with a checked password that no answer shows
    assert created.status == 201
    jane = created.body
    assert (jane["email_address"], jane["first_name"], jane["last_name"], jane["admin"]) == (
        "jane@example.com", "Jane", "Doe", False,
    )  # fmt: skip
    assert "password" not in created.raw.decode() and "digest" not in created.raw.decode()
    stored = stored_user(api, "jane@example.com")
    assert stored is not None and check_password(stored, "correct horse")
    assert api.admin.get(f"/users/{jane['uuid']}").body == jane
    listed = api.admin.get("/users").body
    assert [u["email_address"] for u in listed["data"]] == ["root@example.com", "jane@example.com"]
    assert "password" not in api.admin.get("/users").raw.decode()

    # And they change any field, the password included
    changed = api.admin.patch(
        f"/users/{jane['uuid']}",
        {"first_name": "Janet", "email": "janet@example.com", "admin": True, "password": "battery staple"},
    )
    assert changed.status == 200
    assert (changed.body["first_name"], changed.body["email_address"], changed.body["admin"]) == (
        "Janet", "janet@example.com", True,
    )  # fmt: skip
    stored = stored_user(api, "janet@example.com")
    assert stored is not None and check_password(stored, "battery staple")
    assert not check_password(stored, "correct horse")

    # And they delete the user
    assert api.admin.delete(f"/users/{jane['uuid']}").status == 204
    assert api.admin.get(f"/users/{jane['uuid']}").status == 404
    assert stored_user(api, "janet@example.com") is None


def test_a_user_made_without_a_password_cannot_log_in(api: LiveAPI) -> None:
    created = api.admin.post("/users", {"email": "nopass@example.com", "first_name": "No", "last_name": "Pass"})
    assert created.status == 201
    stored = stored_user(api, "nopass@example.com")
    assert stored is not None and stored.password_digest is None and not check_password(stored, "anything")


def test_users_break_no_rules(api: LiveAPI) -> None:
    names = {"first_name": "A", "last_name": "B"}
    cases = [
        ({"email": "not-an-address", **names}, "email"),
        ({"email": "ROOT@example.com", **names}, "email"),
        ({"email": "short@example.com", "password": "seven77", **names}, "password"),
        ({"email": "long@example.com", "password": "é" * 600, **names}, "password"),
        ({"email": "blank@example.com", "first_name": " ", "last_name": "B"}, "first_name"),
    ]
    for body, field in cases:
        reply = api.admin.post("/users", body)
        assert (reply.status, reply.code) == (422, "validation_failed"), body
        assert reply.body["error"]["details"][0]["field"] == field
    reply = api.admin.post("/users", {"email": "x@example.com"})
    assert (reply.status, reply.code) == (400, "invalid_request")

    other = api.admin.post("/users", {"email": "other@example.com", **names}).body
    reply = api.admin.patch(f"/users/{other['uuid']}", {"email": "root@example.com"})
    assert (reply.status, reply.code) == (422, "validation_failed")
    reply = api.admin.patch(f"/users/{other['uuid']}", {"password": "short"})
    assert (reply.status, reply.code) == (422, "validation_failed")
    reply = api.admin.patch(f"/users/{other['uuid']}", {"last_name": ""})
    assert (reply.status, reply.code) == (422, "validation_failed")
    assert api.admin.get("/users/no-such-user").status == 404


def test_admins_keep_their_own_admin_flag_and_account(api: LiveAPI) -> None:
    me = api.admin.get("/me").body["user"]
    reply = api.admin.patch(f"/users/{me['uuid']}", {"admin": False})
    assert (reply.status, reply.code) == (403, "forbidden")
    reply = api.admin.delete(f"/users/{me['uuid']}")
    assert (reply.status, reply.code) == (403, "forbidden")
    assert api.admin.patch(f"/users/{me['uuid']}", {"admin": True, "first_name": "Root"}).body["first_name"] == "Root"
    assert api.admin.get("/me").body["user"]["admin"] is True


def test_users_paths_do_not_exist_for_other_users(api: LiveAPI) -> None:
    boss = api.member("boss@example.com", "acme", admin=True)
    root = api.admin.get("/me").body["user"]
    for method, path, body in [
        ("GET", "/users", None),
        ("POST", "/users", {"email": "x@example.com", "first_name": "X", "last_name": "Y"}),
        ("GET", f"/users/{root['uuid']}", None),
        ("PATCH", f"/users/{root['uuid']}", {"first_name": "Owned"}),
        ("DELETE", f"/users/{root['uuid']}", None),
    ]:
        reply = boss.request(method, path, body)
        assert (reply.status, reply.code) == (404, "not_found"), (method, path)
    assert stored_user(api, "x@example.com") is None


def test_deleting_a_user_ends_their_memberships_and_tokens(api: LiveAPI) -> None:
    dev = api.member("dev@example.com", "acme")
    uuid = dev.get("/me").body["user"]["uuid"]
    assert api.admin.delete(f"/users/{uuid}").status == 204
    assert dev.get("/me").status == 401
    assert api.admin.get("/organizations/acme/members").body["data"] == []


def test_me_shows_the_user_and_their_memberships(api: LiveAPI) -> None:
    api.admin.post("/organizations/acme/servers", {"name": "Bulk", "permalink": "bulk"})
    api.admin.post("/organizations", {"name": "Beta", "permalink": "beta"})
    dev = api.member("dev@example.com", "acme", servers="bulk")
    api.admin.post("/organizations/beta/members", {"email": "dev@example.com", "admin": True})

    me = dev.get("/me")
    assert me.status == 200
    assert me.body["user"]["email_address"] == "dev@example.com" and me.body["user"]["admin"] is False
    assert me.body["memberships"] == [
        {"organization": "acme", "organization_name": "ACME Inc", "admin": False, "all_servers": False,
         "servers": ["bulk"]},
        {"organization": "beta", "organization_name": "Beta", "admin": True, "all_servers": True, "servers": []},
    ]  # fmt: skip
    assert "password" not in me.raw.decode()
    assert api.user("loner@example.com").get("/me").body["memberships"] == []
    assert api.admin.as_(None).get("/me").status == 401


def test_users_make_list_and_revoke_their_own_tokens(api: LiveAPI) -> None:
    dev = api.user("dev@example.com")

    # When a user makes a token
    made = dev.post("/me/tokens", {"name": "deploy script"})

    # Then it is answered once and works
    assert made.status == 201
    token = made.body["token"]
    assert token.startswith("postal_") and made.body["name"] == "deploy script"
    assert dev.as_(token).get("/me").body["user"]["email_address"] == "dev@example.com"
    assert dev.post("/me/tokens").body["name"] == "API token"

    # And lists show names and use, never the tokens
    listed = dev.get("/me/tokens")
    assert [t["name"] for t in listed.body["data"]] == ["tests", "deploy script", "API token"]
    assert token not in listed.raw.decode() and dev.token not in listed.raw.decode()
    assert all("token" not in t for t in listed.body["data"])
    used = next(t for t in listed.body["data"] if t["name"] == "deploy script")
    assert used["last_used_at"] is not None and used["uuid"] == made.body["uuid"]
    assert [t["name"] for t in dev.get("/me/tokens?limit=1").body["data"]] == ["tests"]

    # And another user neither sees nor revokes them
    other = api.user("other@example.com")
    assert [t["name"] for t in other.get("/me/tokens").body["data"]] == ["tests"]
    assert other.delete(f"/me/tokens/{made.body['uuid']}").status == 404
    assert api.admin.delete(f"/me/tokens/{made.body['uuid']}").status == 404

    # When the user revokes it, it stops working
    assert dev.delete(f"/me/tokens/{made.body['uuid']}").status == 204
    assert dev.as_(token).get("/me").status == 401
    assert dev.delete(f"/me/tokens/{made.body['uuid']}").status == 404
    assert dev.post("/me/tokens", {"name": "   "}).status == 422
