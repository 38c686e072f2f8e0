"""Which user an OpenID Connect login is: by the provider's subject, else by e-mail address (then
linked to that subject), as Postal does. Nobody is created: accounts come from administrators."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.user import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OIDCIdentity:
    issuer: str
    uid: str
    email: str | None
    name: str | None
    # False only when the provider says outright that it has not verified the address.
    email_verified: bool = True


def find_oidc_user(session: Session, identity: OIDCIdentity) -> User | None:
    """The user of `identity`, linking an unlinked account with its e-mail address on first use."""
    user = session.scalar(select(User).where(User.oidc_issuer == identity.issuer, User.oidc_uid == identity.uid))
    if user is not None:
        return user
    email = (identity.email or "").strip().lower()
    if not email:
        log.info("OIDC login of %s at %s gave no e-mail address to match", identity.uid, identity.issuer)
        return None
    if not identity.email_verified:
        # An address the provider has not checked could be anybody's: never link on it.
        log.warning("OIDC login of %s at %s: %s is not verified by the provider", identity.uid, identity.issuer, email)
        return None
    # As Postal: only accounts not yet linked to a provider identity are linked by address.
    user = session.scalar(select(User).where(func.lower(User.email_address) == email, User.oidc_uid.is_(None)))
    if user is None:
        return None
    user.oidc_uid = identity.uid
    user.oidc_issuer = identity.issuer
    # As Postal: a linked account logs in through the provider, its password no longer works.
    user.password_digest = None
    if identity.name and not (user.first_name or user.last_name):
        first, _, last = identity.name.strip().partition(" ")
        user.first_name, user.last_name = first[:255], last.strip()[:255]
    session.flush()
    log.info("linked user %s to OIDC identity %s at %s", user.id, identity.uid, identity.issuer)
    return user
