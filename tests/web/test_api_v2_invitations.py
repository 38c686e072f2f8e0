"""Invitations over the management API: global admins invite, list and withdraw; the invitee
accepts with the link's token, without an API token."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import select

from core.config import Config, build_config
from core.tenancy.users import check_password
from models.base import utcnow
from models.user import User, UserInvite
from tests.conftest import Installation, merge
from tests.support.api_v2 import Client, LiveAPI, add_member, live_api
from tests.support.smtp_sink import SMTPSink

# Nothing listens on port 1 of 127.0.0.1: connecting is refused at once. (A constant, not a port
# found at import time, so that every pytest-xdist worker collects the same test ids.)
CLOSED_PORT = 1


@pytest.fixture
def mail_port(smtp_sink: SMTPSink) -> int:
    """Where system mail goes: the sink (a test may point it at a closed port instead)."""
    return smtp_sink.port


@pytest.fixture
def config(config_data: dict[str, Any], mail_port: int) -> Config:
    return build_config(merge(config_data, {"smtp": {"host": "127.0.0.1", "port": mail_port}}), environ={})


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def _token(link: str) -> str:
    assert link.startswith("https://postal.test/invite/")
    return link.rsplit("/", 1)[1]


def test_an_admin_invites_and_the_invitee_accepts_into_the_organization(api: LiveAPI, smtp_sink: SMTPSink) -> None:
    # Given a global admin inviting an address to acme, as one of its admins
    created = api.admin.post("/invitations", {"email": "New@Example.com", "organization": "acme", "admin": True})

    # Then the invitation is stored with only a digest of its token, and e-mailed with its link
    assert created.status == 201, created.body
    invitation = created.body
    assert (invitation["email_address"], invitation["organization"], invitation["admin"]) == (
        "new@example.com", "acme", True,
    )  # fmt: skip
    assert invitation["email_sent"] is True and invitation["email_error"] is None
    assert invitation["invited_by"] == "root@example.com"
    token = _token(invitation["link"])
    received = smtp_sink.wait_for(1)[0]
    assert received.rcpt_tos == ["new@example.com"]
    mail = message_from_bytes(received.data)
    assert "invited" in mail["Subject"] and invitation["link"] in mail.get_payload(decode=True).decode()
    with api.runtime.db.transaction() as session:
        stored = session.scalar(select(UserInvite))
        assert stored is not None and stored.token_hash and token not in stored.token_hash
        assert stored.expires_at is not None and stored.expires_at - utcnow() > timedelta(days=6, hours=23)
    listed = api.admin.get("/invitations").body["data"]
    assert [i["email_address"] for i in listed] == ["new@example.com"] and "link" not in listed[0]
    assert listed[0]["expired"] is False

    # When the invitee opens the link and accepts, without any API token
    anonymous = Client(api.port, None)
    offer = anonymous.get(f"/invitations/offer?token={token}")
    assert offer.status == 200 and offer.body["organization_name"] == "ACME Inc"
    accepted = anonymous.post(
        "/invitations/accept", {"token": token, "first_name": "Nia", "last_name": "New", "password": "long enough"}
    )

    # Then their verified account is in acme as an admin, and the link is used up
    assert accepted.status == 201, accepted.body
    assert accepted.body["email_address"] == "new@example.com" and accepted.body["admin"] is False
    with api.runtime.db.transaction() as session:
        user = session.scalar(select(User).where(User.email_address == "new@example.com"))
        assert user is not None and user.email_verified_at is not None and check_password(user, "long enough")
    members = api.admin.get("/organizations/acme/members").body["data"]
    assert [(m["user"]["email_address"], m["admin"]) for m in members] == [("new@example.com", True)]
    assert api.admin.get("/invitations").body["data"] == []
    assert anonymous.get(f"/invitations/offer?token={token}").status == 404
    again = anonymous.post(
        "/invitations/accept", {"token": token, "first_name": "X", "last_name": "Y", "password": "long enough"}
    )
    assert again.status == 404


def test_invitations_break_no_rules(api: LiveAPI) -> None:
    # An address with an account cannot be invited; nor a malformed one; nor into a missing organization
    assert api.admin.post("/invitations", {"email": "root@example.com"}).status == 422
    assert api.admin.post("/invitations", {"email": "not-an-address"}).status == 422
    assert api.admin.post("/invitations", {"email": "a@example.com", "organization": "nope"}).status == 404
    # Only global admins see, make and withdraw invitations
    member = api.member("member@example.com", "acme", admin=True)
    assert member.post("/invitations", {"email": "b@example.com"}).status == 403
    assert member.get("/invitations").status == 403
    made = api.admin.post("/invitations", {"email": "c@example.com"})
    assert made.status == 201 and made.body["organization"] is None
    assert member.delete(f"/invitations/{made.body['uuid']}").status == 403
    # A second invitation to the same address replaces the first
    second = api.admin.post("/invitations", {"email": "c@example.com"})
    assert [i["uuid"] for i in api.admin.get("/invitations").body["data"]] == [second.body["uuid"]]
    anonymous = Client(api.port, None)
    assert anonymous.get(f"/invitations/offer?token={_token(made.body['link'])}").status == 404
    # Withdrawn: its link no longer works
    assert api.admin.delete(f"/invitations/{second.body['uuid']}").status == 204
    assert api.admin.delete(f"/invitations/{second.body['uuid']}").status == 404
    assert anonymous.get(f"/invitations/offer?token={_token(second.body['link'])}").status == 404
    # Accepting checks the password and names
    third = _token(api.admin.post("/invitations", {"email": "d@example.com"}).body["link"])
    short = anonymous.post(
        "/invitations/accept", {"token": third, "first_name": "D", "last_name": "D", "password": "x"}
    )
    assert short.status == 422 and short.body["error"]["details"][0]["field"] == "password"
    blank = anonymous.post(
        "/invitations/accept", {"token": third, "first_name": " ", "last_name": "D", "password": "long enough"}
    )
    assert blank.status == 422
    assert anonymous.get(f"/invitations/offer?token={third}").status == 200  # still usable after refusals
    # The list and its changes need a token
    assert anonymous.get("/invitations").status == 401


def test_an_expired_invitation_cannot_be_accepted(api: LiveAPI) -> None:
    token = _token(api.admin.post("/invitations", {"email": "late@example.com"}).body["link"])
    now = utcnow()
    api.runtime.clock = lambda: now + timedelta(days=7, seconds=1)
    assert api.admin.get("/invitations").body["data"][0]["expired"] is True
    anonymous = Client(api.port, None)
    assert anonymous.get(f"/invitations/offer?token={token}").status == 404
    reply = anonymous.post(
        "/invitations/accept", {"token": token, "first_name": "L", "last_name": "L", "password": "long enough"}
    )
    assert reply.status == 404


@pytest.mark.parametrize("mail_port", [CLOSED_PORT], ids=["closed-port"])
def test_the_invitation_stands_when_the_mail_cannot_be_sent(api: LiveAPI) -> None:
    created = api.admin.post("/invitations", {"email": "offline@example.com"})
    assert created.status == 201
    assert created.body["email_sent"] is False and "could not be sent" in created.body["email_error"]
    assert api.admin.get("/invitations").body["data"][0]["email_address"] == "offline@example.com"
    assert Client(api.port, None).get(f"/invitations/offer?token={_token(created.body['link'])}").status == 200


def test_a_user_made_meanwhile_blocks_accepting(api: LiveAPI) -> None:
    token = _token(api.admin.post("/invitations", {"email": "twice@example.com"}).body["link"])
    api.user("twice@example.com")
    add_member(api.runtime, "acme", "twice@example.com")
    reply = Client(api.port, None).post(
        "/invitations/accept", {"token": token, "first_name": "T", "last_name": "T", "password": "long enough"}
    )
    assert reply.status == 422 and "already been taken" in reply.body["error"]["message"]
