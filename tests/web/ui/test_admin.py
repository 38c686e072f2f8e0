"""The global admin pages: users (with their organizations and invitations) and IP pools."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import select

from core.tenancy.users import check_password
from models.base import utcnow
from models.user import User
from tests.support.smtp_sink import SMTPSink
from tests.support.ui import Site

INVITE_LINK = re.compile(r"https://postal\.test/invite/([A-Za-z0-9_-]+)")


# Nothing listens on port 1 of 127.0.0.1: connecting is refused at once. (A constant, not a port
# found at import time, so that every pytest-xdist worker collects the same test ids.)
CLOSED_PORT = 1


@pytest.fixture
def mail_port(smtp_sink: SMTPSink) -> int:
    return smtp_sink.port


@pytest.fixture
def ui_config(mail_port: int) -> dict[str, Any]:
    """System mail (the invitations) goes to the test's SMTP sink."""
    return {"smtp": {"host": "127.0.0.1", "port": mail_port}}


def _uuid(site: Site, email: str) -> str:
    with site.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == email))
        assert user is not None
        return user.uuid


def _stored(site: Site, email: str) -> User | None:
    with site.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == email))
        if user is not None:
            session.expunge(user)
        return user


# -- users ----------------------------------------------------------------------------------------


def test_admins_list_create_change_and_delete_users(site: Site) -> None:
    site.member("jo@example.com", "acme", admin=True)
    admin = site.browser("admin@example.com")
    listing = admin.get("/users")
    assert listing.status == 200 and "admin@example.com" in listing and "Admin" in listing
    assert "jo@example.com" in listing and "ACME Inc" in listing and "Pending invitations" in listing

    assert admin.get("/users/new").status == 200
    created = admin.post(
        "/users/new",
        {"email": "Kim@Example.com", "first_name": "Kim", "last_name": "Lee", "password": "long enough", "admin": "0"},
    )
    assert created.status == 303
    uuid = _uuid(site, "kim@example.com")
    assert created.location == f"/users/{uuid}/edit"
    page = admin.follow(created)
    assert page.status == 200 and "kim@example.com has been created" in page and "Not a member" in page
    stored = _stored(site, "kim@example.com")
    assert stored is not None and check_password(stored, "long enough") and not stored.admin

    # Changing without a password keeps it; the admin flag is set
    changed = admin.post(
        f"/users/{uuid}/edit",
        {"email": "kim@example.com", "first_name": "Kimberly", "last_name": "Lee", "password": "", "admin": "1"},
    )
    assert changed.status == 303 and "has been saved" in admin.follow(changed)
    stored = _stored(site, "kim@example.com")
    assert stored is not None and stored.first_name == "Kimberly" and stored.admin
    assert check_password(stored, "long enough")
    admin.post(
        f"/users/{uuid}/edit",
        {"email": "kim@example.com", "first_name": "Kim", "last_name": "Lee", "password": "new password", "admin": "0"},
    )
    stored = _stored(site, "kim@example.com")
    assert stored is not None and check_password(stored, "new password") and not stored.admin

    deleted = admin.post(f"/users/{uuid}/delete")
    assert deleted.status == 303 and deleted.location == "/users"
    assert "kim@example.com has been deleted" in admin.follow(deleted)
    assert _stored(site, "kim@example.com") is None
    assert admin.get(f"/users/{uuid}/edit").status == 404


def test_user_forms_show_their_errors(site: Site) -> None:
    site.user("taken@example.com")
    admin = site.browser("admin@example.com")
    taken = admin.post(
        "/users/new", {"email": "taken@example.com", "first_name": "T", "last_name": "U", "password": "long enough"}
    )
    assert taken.status == 422 and "has already been taken" in taken and 'value="T"' in taken.text
    short = admin.post("/users/new", {"email": "s@example.com", "first_name": "S", "last_name": "S", "password": "x"})
    assert short.status == 422 and "at least 8 characters" in short
    blank = admin.post("/users/new", {"email": "b@example.com", "first_name": " ", "last_name": "B"})
    assert blank.status == 422 and "can't be blank" in blank
    uuid = _uuid(site, "taken@example.com")
    bad = admin.post(f"/users/{uuid}/edit", {"email": "nope", "first_name": "A", "last_name": "B", "admin": "0"})
    assert bad.status == 422 and "not a valid e-mail address" in bad and 'value="nope"' in bad.text
    # Nobody takes away their own admin flag, nor deletes themselves
    me = _uuid(site, "admin@example.com")
    own = admin.post(
        f"/users/{me}/edit", {"email": "admin@example.com", "first_name": "Ada", "last_name": "", "admin": "0"}
    )
    assert own.status in (403, 422)
    assert admin.post(f"/users/{me}/delete").status == 403


def test_admins_manage_a_users_organizations(site: Site) -> None:
    site.user("sam@example.com")
    uuid = _uuid(site, "sam@example.com")
    admin = site.browser("admin@example.com")
    page = admin.get(f"/users/{uuid}/edit")
    assert page.status == 200 and "Add to an organization" in page and "ACME Inc" in page

    added = admin.post(f"/users/{uuid}/organizations", {"organization": "acme", "role": "member", "access": "chosen"})
    assert added.status == 303 and "Added to ACME Inc" in admin.follow(added)
    page = admin.get(f"/users/{uuid}/edit")
    assert 'name="servers" value="main"' in page.text and "Add to an organization" not in page

    changed = admin.post(
        f"/users/{uuid}/organizations/acme", {"role": "admin", "access": "chosen", "servers": ["main"]}
    )
    assert changed.status == 303 and "membership of ACME Inc has been saved" in admin.follow(changed)
    page = admin.get(f"/users/{uuid}/edit")
    assert 'value="main" checked' in page.text and '<option value="admin" selected>' in page.text
    listing = admin.get("/users")
    assert "ACME Inc" in listing and "(admin)" in listing

    everything = admin.post(f"/users/{uuid}/organizations/acme", {"role": "member", "access": "all"})
    assert everything.status == 303
    page = admin.get(f"/users/{uuid}/edit")
    assert 'name="access" value="all" checked' in page.text

    # The membership is real: they can see acme now
    sam = site.browser("sam@example.com")
    assert sam.get("/org/acme").status != 404

    removed = admin.post(f"/users/{uuid}/organizations/acme/delete")
    assert removed.status == 303 and "Removed from ACME Inc" in admin.follow(removed)
    assert "Not a member of any organization" in admin.get(f"/users/{uuid}/edit")

    missing = admin.post(f"/users/{uuid}/organizations", {"organization": "", "role": "member"})
    assert missing.status == 422 and "Choose an organization" in missing
    assert admin.post(f"/users/{uuid}/organizations", {"organization": "nope", "role": "member"}).status == 404


def test_only_global_admins_open_the_admin_pages(site: Site) -> None:
    site.member("boss@example.com", "acme", admin=True)
    boss = site.browser("boss@example.com")
    uuid = _uuid(site, "boss@example.com")
    for path in ("/users", "/users/new", "/users/invite", f"/users/{uuid}/edit", "/ip_pools", "/ip_pools/new"):
        page = boss.get(path)
        assert page.status == 403 and "only global administrators" in page, path
    for path in ("/users/new", "/users/invite", f"/users/{uuid}/delete", "/ip_pools/new"):
        assert boss.post(path, {"email": "x@example.com", "name": "x"}).status == 403, path
    assert _stored(site, "boss@example.com") is not None
    assert site.browser().get("/users").status == 303  # logged out: to the login page


# -- invitations ----------------------------------------------------------------------------------


def test_an_invitation_is_emailed_and_accepted(site: Site, smtp_sink: SMTPSink) -> None:
    admin = site.browser("admin@example.com")
    form = admin.get("/users/invite")
    assert form.status == 200 and "ACME Inc" in form
    sent = admin.post("/users/invite", {"email": "Guest@Example.com", "organization": "acme", "role": "admin"})
    assert sent.status == 303 and "e-mailed to guest@example.com" in admin.follow(sent)
    listing = admin.get("/users")
    assert "guest@example.com" in listing and "admin@example.com" in listing

    received = smtp_sink.wait_for(1)[0]
    assert received.rcpt_tos == ["guest@example.com"]
    body = message_from_bytes(received.data).get_payload(decode=True).decode()
    found = INVITE_LINK.search(body)
    assert found, body
    token = found.group(1)

    guest = site.browser()
    page = guest.get(f"/invite/{token}")
    assert page.status == 200 and "ACME Inc" in page and "guest@example.com" in page
    mismatch = guest.post(
        f"/invite/{token}",
        {"first_name": "Gil", "last_name": "Guest", "password": "long enough", "password_confirmation": "other"},
    )
    assert mismatch.status == 422 and "passwords do not match" in mismatch and 'value="Gil"' in mismatch.text
    short = guest.post(
        f"/invite/{token}", {"first_name": "Gil", "last_name": "Guest", "password": "x", "password_confirmation": "x"}
    )
    assert short.status == 422 and "at least 8 characters" in short
    done = guest.post(
        f"/invite/{token}",
        {"first_name": "Gil", "last_name": "Guest", "password": "long enough", "password_confirmation": "long enough"},
    )
    assert done.status == 303 and done.location == "/"
    home = guest.follow(done)
    assert home.status == 200 and "Welcome, Gil Guest" in home and "ACME Inc" in home
    stored = _stored(site, "guest@example.com")
    assert stored is not None and stored.email_verified_at is not None and check_password(stored, "long enough")
    assert "guest@example.com" not in admin.get("/users").text.split("Pending invitations")[1]
    edit = admin.get(f"/users/{stored.uuid}/edit")
    assert '<option value="admin" selected>' in edit.text

    used = site.browser().get(f"/invite/{token}")
    assert used.status == 404 and "not valid" in used


def test_invitation_errors_and_withdrawal(site: Site, smtp_sink: SMTPSink) -> None:
    admin = site.browser("admin@example.com")
    taken = admin.post("/users/invite", {"email": "admin@example.com", "organization": "", "role": "member"})
    assert taken.status == 422 and "already has an account" in taken
    bad = admin.post("/users/invite", {"email": "nope", "organization": "", "role": "member"})
    assert bad.status == 422 and "not a valid e-mail address" in bad and 'value="nope"' in bad.text
    assert site.browser().get("/invite/no-such-token").status == 404

    assert admin.post("/users/invite", {"email": "w@example.com", "organization": "", "role": "member"}).status == 303
    token = INVITE_LINK.search(message_from_bytes(smtp_sink.wait_for(1)[0].data).get_payload(decode=True).decode())
    assert token
    listing = admin.get("/users")
    found = re.search(r'action="/users/invitations/([0-9a-f-]+)/delete"', listing.text)
    assert found
    withdrawn = admin.post(f"/users/invitations/{found.group(1)}/delete")
    assert withdrawn.status == 303 and "withdrawn" in admin.follow(withdrawn)
    page = site.browser().get(f"/invite/{token.group(1)}")
    assert page.status == 404 and "not valid" in page


@pytest.mark.parametrize("mail_port", [CLOSED_PORT], ids=["closed-port"])
def test_when_the_mail_cannot_be_sent_the_page_shows_the_link(site: Site) -> None:
    admin = site.browser("admin@example.com")
    page = admin.post("/users/invite", {"email": "far@example.com", "organization": "", "role": "member"})
    assert page.status == 200 and "the e-mail could not be sent" in page
    found = INVITE_LINK.search(page.text)
    assert found
    assert site.browser().get(f"/invite/{found.group(1)}").status == 200
    assert "far@example.com" in admin.get("/users")


# -- IP pools -------------------------------------------------------------------------------------


def test_admins_manage_ip_pools_and_their_addresses(site: Site) -> None:
    admin = site.browser("admin@example.com")
    assert "There are no IP pools" in admin.get("/ip_pools")
    assert admin.get("/ip_pools/new").status == 200
    created = admin.post("/ip_pools/new", {"name": "Main pool", "permalink": "", "default": "1"})
    assert created.status == 303
    assert created.location is not None
    pool_path = created.location
    page = admin.follow(created)
    assert page.status == 200 and "Main pool has been created" in page and "outgoing-main-pool" in page

    added = admin.post(
        f"{pool_path}/addresses",
        {"ipv4": "192.0.2.10", "ipv6": "2001:db8::10", "hostname": "MX1.example.com", "priority": "50"},
    )
    assert added.status == 303 and "192.0.2.10 has been added" in admin.follow(added)
    page = admin.get(pool_path)
    assert "2001:db8::10" in page and "mx1.example.com" in page
    listing = admin.get("/ip_pools")
    assert "Main pool" in listing and "Default" in listing and "<td>1</td>" in listing.text

    found = re.search(rf'href="({re.escape(pool_path)}/addresses/(\d+)/edit)"', page.text)
    assert found
    assert admin.get(found.group(1)).status == 200
    edited = admin.post(found.group(1), {"hostname": "mx2.example.com", "priority": "70"})
    assert edited.status == 303
    page = admin.get(pool_path)
    assert "mx2.example.com" in page and "<td>70</td>" in page.text
    wrong = admin.post(found.group(1), {"hostname": "mx2.example.com", "priority": "lots"})
    assert wrong.status == 422 and "whole number" in wrong
    too_high = admin.post(found.group(1), {"hostname": "mx2.example.com", "priority": "101"})
    assert too_high.status == 422

    renamed = admin.post(pool_path, {"name": "Primary", "default": "0"})
    assert renamed.status == 303 and "Primary has been saved" in admin.follow(renamed)
    assert "Default" not in admin.get("/ip_pools").text.split("<tbody>")[1]

    removed = admin.post(f"{pool_path}/addresses/{found.group(2)}/delete")
    assert removed.status == 303 and "has been removed" in admin.follow(removed)
    assert "no addresses yet" in admin.get(pool_path)
    deleted = admin.post(f"{pool_path}/delete")
    assert deleted.status == 303 and "Primary has been deleted" in admin.follow(deleted)
    assert admin.get(pool_path).status == 404


def test_ip_pool_forms_show_their_errors(site: Site) -> None:
    admin = site.browser("admin@example.com")
    blank = admin.post("/ip_pools/new", {"name": " ", "permalink": ""})
    assert blank.status == 422 and "can't be blank" in blank
    pool_path = admin.post("/ip_pools/new", {"name": "Pool"}).location
    assert pool_path is not None
    bad = admin.post(
        f"{pool_path}/addresses", {"ipv4": "300.1.1.1", "ipv6": "", "hostname": "mx.example.com", "priority": "10"}
    )
    assert bad.status == 422 and "is not an IPv4 address" in bad and 'value="300.1.1.1"' in bad.text
    admin.post(
        f"{pool_path}/addresses", {"ipv4": "192.0.2.20", "ipv6": "", "hostname": "mx.example.com", "priority": ""}
    )
    again = admin.post(f"{pool_path}/addresses", {"ipv4": "192.0.2.20", "ipv6": "", "hostname": "mx.example.com"})
    assert again.status == 422 and "already in a pool" in again
    assert admin.post(pool_path, {"name": ""}).status == 422
    assert admin.get("/ip_pools/no-such-pool").status == 404
    assert admin.get(f"{pool_path}/addresses/999999/edit").status == 404


@pytest.mark.parametrize("mail_port", [CLOSED_PORT], ids=["closed-port"])
def test_an_expired_invitation_link_says_so(site: Site) -> None:
    admin = site.browser("admin@example.com")
    page = admin.post("/users/invite", {"email": "slow@example.com", "organization": "acme", "role": "member"})
    found = INVITE_LINK.search(page.text)
    assert found
    later = utcnow() + timedelta(days=8)
    site.runtime.clock = lambda: later
    assert "Expired" in site.browser("admin@example.com").get("/users")  # a new login: sessions expired too
    visitor = site.browser()
    expired = visitor.get(f"/invite/{found.group(1)}")
    assert expired.status == 404 and "not valid" in expired and "expired" in expired
    visitor.get("/login")  # the expired page has no form: its CSRF token is taken from another
    refused = visitor.post(
        f"/invite/{found.group(1)}",
        {"first_name": "S", "last_name": "S", "password": "long enough", "password_confirmation": "long enough"},
    )
    assert refused.status == 404 and _stored(site, "slow@example.com") is None
