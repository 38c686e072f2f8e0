"""Invitations: a global admin offers an account (and optionally a place in an organization) to an
e-mail address; the link's token is stored only as a SHA-256 and expires after a week."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.config import Config
from core.errors import NotFound, ValidationError
from core.system_mail import send_system_mail
from core.tenancy.memberships import ALL_SERVERS, set_membership
from core.tenancy.users import EMAIL_RE, create_user
from models.organization import Organization
from models.user import User, UserInvite

VALID_FOR = timedelta(days=7)
# The link's path on the web UI: `/invite/<token>`.
LINK_PATH = "/invite/"


@dataclass(frozen=True)
class NewInvitation:
    invite: UserInvite
    token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(config: Config, token: str) -> str:
    return f"{config.postal.web_protocol}://{config.postal.web_hostname}{LINK_PATH}{token}"


def create_invitation(
    session: Session,
    email: str,
    invited_by: User,
    now: datetime,
    organization: Organization | None = None,
    admin: bool = False,
) -> NewInvitation:
    """A new invitation to `email` (replacing one still pending for the same address); refused
    when the address already has an account."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationError("email", f"{email!r} is not a valid e-mail address")
    if session.scalar(select(User.id).where(func.lower(User.email_address) == email)) is not None:
        raise ValidationError("email", f"{email} already has an account; add it to an organization instead")
    session.execute(delete(UserInvite).where(func.lower(UserInvite.email_address) == email))
    token = secrets.token_urlsafe(32)
    expires_at = now + VALID_FOR
    invite = UserInvite(
        email_address=email,
        token_hash=_digest(token),
        expires_at=expires_at,
        organization_id=None if organization is None else organization.id,
        admin=admin and organization is not None,
        invited_by_id=invited_by.id,
    )
    session.add(invite)
    session.flush()
    return NewInvitation(invite, token, expires_at)


def find_invitation(session: Session, token: str, now: datetime) -> UserInvite:
    """The pending invitation of a link's token; unknown, used and expired ones are all not found."""
    invite = session.scalar(select(UserInvite).where(UserInvite.token_hash == _digest(token)))
    if invite is None or invite.expires_at is None or invite.expires_at <= now:
        raise NotFound("invitation", "this link")
    return invite


def invitation_organization(session: Session, invite: UserInvite) -> Organization | None:
    """The organization the invitation offers, unless it has been deleted since."""
    if invite.organization_id is None:
        return None
    return session.scalar(
        select(Organization).where(Organization.id == invite.organization_id, Organization.deleted_at.is_(None))
    )


def accept_invitation(
    session: Session, token: str, now: datetime, first_name: str, last_name: str, password: str
) -> User:
    """The invitee's new account (its address verified by the link), in the organization offered;
    the invitation is used up."""
    invite = find_invitation(session, token, now)
    user = create_user(session, invite.email_address, password, first_name=first_name, last_name=last_name)
    user.email_verified_at = now
    organization = invitation_organization(session, invite)
    if organization is not None:
        set_membership(session, organization, user, invite.admin, ALL_SERVERS)
    session.delete(invite)
    session.flush()
    return user


def send_invitation(
    config: Config, email: str, link: str, inviter: str, organization: str | None, expires_at: datetime
) -> None:
    """E-mail the link; `SystemMailFailed` when it cannot be sent (the invitation stays valid)."""
    place = f" to join {organization}" if organization else ""
    text = (
        f"{inviter} has invited you{place} on Postal at {config.postal.web_hostname}.\n\n"
        f"To accept, choose your name and a password here:\n\n  {link}\n\n"
        f"The link can be used once, until {expires_at:%-d %B %Y %H:%M} UTC.\n"
        "If you were not expecting this, you can ignore this e-mail.\n"
    )
    send_system_mail(config, email, "You have been invited to Postal", text)
