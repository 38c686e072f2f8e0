"""Password resets by e-mail: a random single-use link whose SHA-256 alone is stored with the user."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import Config
from core.system_mail import send_system_mail
from core.tenancy.passwords import hash_password
from core.tenancy.users import validate_password
from models.user import User

# Reset requests share the login-failure table for throttling, under their own key so that
# asking for links never locks the account's password logins (and failed logins never block resets).
THROTTLE_PREFIX = "reset:"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def throttle_key(email: str) -> str:
    return THROTTLE_PREFIX + email.strip().lower()


def start_reset(session: Session, email: str, now: datetime, valid_minutes: float) -> tuple[User, str] | None:
    """A new reset token for the user of `email` (replacing any earlier one), or None without one."""
    email = email.strip().lower()
    if not email:
        return None
    user = session.scalar(select(User).where(func.lower(User.email_address) == email))
    if user is None:
        return None
    token = secrets.token_urlsafe(32)
    user.password_reset_token = _digest(token)
    user.password_reset_token_valid_until = now + timedelta(minutes=valid_minutes)
    session.flush()
    return user, token


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    """The user whose live reset link holds `token`, or None (unknown, used or expired)."""
    if not token or len(token) > 200:
        return None
    user = session.scalar(select(User).where(User.password_reset_token == _digest(token)))
    if user is None or user.password_reset_token_valid_until is None:
        return None
    return user if user.password_reset_token_valid_until > now else None


def finish_reset(session: Session, user: User, password: str) -> None:
    """Set the new password (the usual rules) and make the link unusable."""
    validate_password(password)
    user.password_digest = hash_password(password)
    user.password_reset_token = None
    user.password_reset_token_valid_until = None
    session.flush()


def reset_link(config: Config, token: str) -> str:
    """Built from the configured host, never from a request's `Host` header (link poisoning)."""
    return f"{config.postal.web_protocol}://{config.postal.web_hostname}/login/reset/{token}"


def send_reset_mail(config: Config, user: User, token: str, valid_minutes: float) -> None:
    """E-mail the link; `SystemMailFailed` when the `smtp` server cannot take it."""
    minutes = int(valid_minutes)
    text = (
        f"Hello {user.first_name or user.email_address},\n\n"
        f"Someone, hopefully you, asked to reset the password of the Postal account {user.email_address}.\n"
        f"To choose a new password, open this link within {minutes} minute{'s' if minutes != 1 else ''}:\n\n"
        f"{reset_link(config, token)}\n\n"
        "The link works once. If you did not ask for it, ignore this e-mail: your password stays as it is.\n"
    )
    send_system_mail(config, user.email_address, "Reset your Postal password", text)
