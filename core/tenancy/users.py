"""Users: creation, changes and removal, with an argon2id password digest, and password checks."""

from __future__ import annotations

import re

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.tenancy.passwords import hash_password, needs_rehash, verify_password
from models.base import utcnow
from models.organization import OrganizationUser
from models.user import User

EMAIL_RE = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
MIN_PASSWORD_LENGTH = 8
# argon2 reads any length; a cap keeps one login from hashing megabytes.
MAX_PASSWORD_BYTES = 1024


def check_password(user: User, password: str) -> bool:
    return verify_password(user.password_digest, password)


def upgrade_password_digest(user: User, password: str) -> bool:
    """After a successful check: store an argon2id digest in place of a bcrypt (or weaker) one."""
    if user.password_digest and needs_rehash(user.password_digest):
        user.password_digest = hash_password(password)
        return True
    return False


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValidationError("password", f"must be at most {MAX_PASSWORD_BYTES} bytes")


def validate_email(session: Session, email: str, user: User | None = None) -> str:
    """`email` normalised (trimmed, lower case); refused when malformed or another user's."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationError("email", f"{email!r} is not a valid e-mail address")
    taken = select(User.id).where(func.lower(User.email_address) == email)
    if user is not None:
        taken = taken.where(User.id != user.id)
    if session.scalar(taken) is not None:
        raise ValidationError("email", f"{email} has already been taken")
    return email


def create_user(
    session: Session,
    email: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    admin: bool = False,
) -> User:
    """A new user; without a password they cannot log in until one is set."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationError("email", f"{email!r} is not a valid e-mail address")
    if password is not None:
        validate_password(password)
    email = validate_email(session, email)
    user = User(
        email_address=email,
        password_digest=hash_password(password) if password is not None else None,
        first_name=first_name,
        last_name=last_name,
        admin=admin,
        # Users made by an operator are trusted, as Postal's make-user does.
        email_verified_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def update_user(
    session: Session,
    user: User,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    password: str | None = None,
    admin: bool | None = None,
) -> User:
    """Change what is given (None keeps the current value)."""
    if email is not None:
        user.email_address = validate_email(session, email, user)
    if password is not None:
        validate_password(password)
        user.password_digest = hash_password(password)
    if first_name is not None:
        user.first_name = first_name.strip()
    if last_name is not None:
        user.last_name = last_name.strip()
    if admin is not None:
        user.admin = admin
    session.flush()
    return user


def delete_user(session: Session, user: User) -> None:
    """Remove `user` with their memberships; their API tokens go with them (foreign key cascade)
    and organizations they own are left without an owner (Postal's `dependent: :nullify`)."""
    session.execute(
        delete(OrganizationUser).where(OrganizationUser.user_id == user.id, OrganizationUser.user_type == "User")
    )
    session.delete(user)
    session.flush()
