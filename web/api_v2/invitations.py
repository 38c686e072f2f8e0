"""`/invitations`: global admins invite an e-mail address to make an account (optionally into one
organization); the invitee accepts through the link's token, without an API token of their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.errors import ValidationError
from core.presenters import iso
from core.system_mail import SystemMailFailed
from core.tenancy.invitations import (
    accept_invitation,
    create_invitation,
    find_invitation,
    invitation_link,
    invitation_organization,
    send_invitation,
)
from core.tenancy.organizations import find_organization
from models.user import User, UserInvite
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations, Param
from web.api_v2.pagination import paginate
from web.api_v2.schema import boolean, nullable, obj, ref, string

ops = Operations("invitations")
NAME = string(max_length=255)
TOKEN = string(min_length=1, max_length=100)
FIELDS = {
    "uuid": string(),
    "email_address": string(),
    "organization": nullable(string(description="Permalink of the organization the invitee joins.")),
    "organization_name": nullable(string()),
    "admin": {**boolean(), "description": "Whether they join the organization as one of its admins."},
    "invited_by": nullable(string(description="E-mail address of the admin who invited.")),
    "expires_at": nullable(string()),
    "expired": {**boolean(), "description": "Past its expiry: the link no longer works."},
    "created_at": nullable(string()),
}
REQUIRED = (
    "uuid", "email_address", "organization", "organization_name", "admin", "invited_by", "expires_at", "expired",
)  # fmt: skip
SCHEMAS = {
    "Invitation": obj(FIELDS, required=REQUIRED),
    "NewInvitation": obj(
        {
            **FIELDS,
            "link": string(description="The link to accept it; shown only in this answer."),
            "email_sent": boolean(),
            "email_error": nullable(string(description="Why the e-mail could not be sent.")),
        },
        required=(*REQUIRED, "link", "email_sent", "email_error"),
    ),
    "InvitationOffer": obj(
        {
            "email_address": string(),
            "organization_name": nullable(string()),
            "expires_at": nullable(string()),
        },
        required=("email_address", "organization_name", "expires_at"),
    ),
}


def _present(call: Call, invite: UserInvite) -> dict[str, Any]:
    org = invitation_organization(call.session, invite)
    inviter = None if invite.invited_by_id is None else call.session.get(User, invite.invited_by_id)
    return {
        "uuid": invite.uuid,
        "email_address": invite.email_address,
        "organization": None if org is None else org.permalink,
        "organization_name": None if org is None else org.name,
        "admin": invite.admin,
        "invited_by": None if inviter is None else inviter.email_address,
        "expires_at": iso(invite.expires_at),
        "expired": invite.expires_at is None or invite.expires_at <= call.runtime.clock(),
        "created_at": iso(invite.created_at),
    }


@ops.get("/invitations", "List pending invitations", response=ref("Invitation"), paginated=True)
def list_invitations(call: Call) -> dict[str, Any]:
    """Global admins. Expired ones are listed too until they are deleted or replaced."""
    call.require_global_admin()
    return paginate(
        call.session, select(UserInvite), UserInvite.id, call.limit, call.cursor, lambda i: _present(call, i)
    )


@ops.post(
    "/invitations",
    "Invite someone",
    status=201,
    response=ref("NewInvitation"),
    body=obj(
        {
            "email": string(min_length=1, max_length=255),
            "organization": nullable(string(min_length=1, max_length=255)),
            "admin": boolean(),
        },
        required=("email",),
    ),
    description="Global admins. The link (valid for 7 days) is e-mailed to the address and answered once; "
    "when the e-mail cannot be sent the invitation stands and `email_error` says why, so the link can be "
    "passed on another way. An address that has an account already is refused; a new invitation "
    "replaces one still pending for the same address. `admin` makes them an admin of `organization`.",
)
def add_invitation(call: Call) -> dict[str, Any]:
    call.require_global_admin()
    permalink = call.field("organization")
    org = find_organization(call.session, permalink) if permalink else None
    inviter = call.user
    created = create_invitation(
        call.session, call.body["email"], inviter, call.runtime.clock(), org, bool(call.field("admin", False))
    )
    answer = _present(call, created.invite)
    link = invitation_link(call.runtime.config, created.token)
    inviter_name = inviter.name or inviter.email_address
    # The invitation is kept whatever the mail server says: commit before talking to it.
    call.commit()
    error = None
    try:
        send_invitation(
            call.runtime.config,
            answer["email_address"],
            link,
            inviter_name,
            answer["organization_name"],
            created.expires_at,
        )
    except SystemMailFailed as exc:
        error = str(exc)
    return {**answer, "link": link, "email_sent": error is None, "email_error": error}


@ops.delete("/invitations/{uuid}", "Withdraw an invitation")
def delete_invitation(call: Call) -> None:
    """Global admins; its link stops working."""
    call.require_global_admin()
    invite = call.session.scalar(select(UserInvite).where(UserInvite.uuid == call.params["uuid"]))
    if invite is None:
        raise not_found("invitation")
    call.session.delete(invite)


# -- accepting: the link's token is the credential --------------------------------------------


@ops.get(
    "/invitations/offer",
    "What an invitation link offers",
    response=ref("InvitationOffer"),
    query=(Param("token", TOKEN, "The token at the end of the invitation's link.", required=True),),
    public=True,
    description="No API token: the link's token identifies the invitation. Unknown, used and expired "
    "links are not found.",
)
def get_invitation_offer(call: Call) -> dict[str, Any]:
    invite = find_invitation(call.session, call.query["token"], call.runtime.clock())
    org = invitation_organization(call.session, invite)
    return {
        "email_address": invite.email_address,
        "organization_name": None if org is None else org.name,
        "expires_at": iso(invite.expires_at),
    }


@ops.post(
    "/invitations/accept",
    "Accept an invitation",
    status=201,
    response=ref("User"),
    body=obj(
        {"token": TOKEN, "first_name": NAME, "last_name": NAME, "password": string(min_length=1, max_length=1024)},
        required=("token", "first_name", "last_name", "password"),
    ),
    public=True,
    description="No API token: makes the invitee's account (e-mail address verified) with the "
    "organization membership offered, and uses the invitation up.",
)
def accept_invitation_token(call: Call) -> dict[str, Any]:
    first = _name("first_name", call.body["first_name"])
    last = _name("last_name", call.body["last_name"])
    user = accept_invitation(call.session, call.body["token"], call.runtime.clock(), first, last, call.body["password"])
    return presenters.user(user)


def _name(field: str, value: str) -> str:
    if not value.strip():
        raise ValidationError(field, "can't be blank")
    if "\n" in value or "\r" in value:
        raise ValidationError(field, "must be one line")
    return value.strip()
