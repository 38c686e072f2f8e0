"""Personal API tokens: making one (shown once, stored as a SHA-256), listing and revoking a user's,
and authenticating a request by one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.errors import NotFound, ValidationError
from core.tokens import random_string
from models.api_token import APIToken
from models.base import utcnow
from models.user import User

# A recognisable prefix lets secret scanners (and people) tell what leaked.
TOKEN_PREFIX = "postal_"  # noqa: S105 (a public prefix, not a secret)
TOKEN_LENGTH = 40
MAX_NAME_LENGTH = 255


def new_token() -> str:
    return TOKEN_PREFIX + random_string(TOKEN_LENGTH)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session,
    user: User,
    name: str | None = None,
    expires_at: datetime | None = None,
    token_factory: Callable[[], str] = new_token,
) -> tuple[APIToken, str]:
    """A new token of `user`; returns the row and the token, which is not stored anywhere."""
    name = (name or "API token").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError("name", f"must be 1 to {MAX_NAME_LENGTH} characters")
    token = token_factory()
    row = APIToken(user_id=user.id, name=name, token_hash=hash_token(token), expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def tokens_of(user: User) -> Select[APIToken]:
    """The tokens of `user`, as a query (lists are paginated by the caller)."""
    return select(APIToken).where(APIToken.user_id == user.id)


def find_token(session: Session, user: User, uuid: str) -> APIToken:
    row = session.scalar(select(APIToken).where(APIToken.user_id == user.id, APIToken.uuid == uuid))
    if row is None:
        raise NotFound("token", uuid)
    return row


def revoke_token(session: Session, user: User, uuid: str) -> None:
    """Delete one of `user`'s tokens: requests with it are refused from now on."""
    session.delete(find_token(session, user, uuid))
    session.flush()


@dataclass(frozen=True)
class TokenUser:
    """Who a request's token speaks for."""

    token_id: int
    user_id: int
    admin: bool


def authenticate(db: Database, token: str, now: datetime | None = None) -> TokenUser | None:
    """The user of `token`, or None when it is unknown or expired; marks it used (at most once a minute)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    now = now or utcnow()
    with db.transaction() as session:
        row = session.execute(
            select(APIToken.id, APIToken.last_used_at, APIToken.expires_at, User.id, User.admin)
            .join(User, User.id == APIToken.user_id)
            .where(APIToken.token_hash == hash_token(token))
        ).first()
        if row is None:
            return None
        token_id, last_used_at, expires_at, user_id, admin = row
        if expires_at is not None and expires_at <= now:
            return None
        if last_used_at is None or now - last_used_at > timedelta(minutes=1):
            session.execute(update(APIToken).where(APIToken.id == token_id).values(last_used_at=now))
        return TokenUser(token_id=token_id, user_id=user_id, admin=bool(admin))
