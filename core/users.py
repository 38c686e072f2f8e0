"""Users: creation with a bcrypt password digest, and password checks."""

from __future__ import annotations

import re

import bcrypt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from models.base import utcnow
from models.user import User

EMAIL_RE = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


def check_password(user: User, password: str) -> bool:
    if not user.password_digest:
        return False
    return bcrypt.checkpw(password.encode(), user.password_digest.encode())


def create_user(
    session: Session,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    admin: bool = False,
) -> User:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationError("email", f"{email!r} is not a valid e-mail address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(func.lower(User.email_address) == email)) is not None:
        raise ValidationError("email", f"{email} has already been taken")
    user = User(
        email_address=email,
        password_digest=hash_password(password),
        first_name=first_name,
        last_name=last_name,
        admin=admin,
        # Users made by an operator are trusted, as Postal's make-user does.
        email_verified_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user
