"""Web UI sessions, kept server-side (Postal's authie sessions), and failed logins for throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, utcnow


class UISession(MainBase):
    __tablename__ = "ui_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Hex SHA-256 of the cookie's value: a stolen database gives no usable session.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The synchronizer token every form and state-changing request of this session carries.
    csrf_token: Mapped[str] = mapped_column(String(64))
    # How the user logged in: "password" or "oidc".
    login_method: Mapped[str] = mapped_column(String(16), default="password")
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginFailure(MainBase):
    """One failed login, by the address it came from and the account it named."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), index=True)
    email_address: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
