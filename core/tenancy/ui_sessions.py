"""Web UI sessions, kept in the main database: the browser holds a random token, the database its
SHA-256, the user, the CSRF token and when the session ends (idle and absolute limits)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.config.sections import WebUISection
from models.ui_session import LoginFailure, UISession
from models.user import User

# How often a session's last activity is written back: not on every request.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class OpenedSession:
    token: str
    session: UISession


def open_session(
    session: Session,
    user: User,
    settings: WebUISection,
    now: datetime,
    login_method: str = "password",
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> OpenedSession:
    """A new session for `user`; the token goes into the cookie and is not stored."""
    token = secrets.token_urlsafe(32)
    row = UISession(
        token_hash=_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        login_method=login_method,
        ip_address=(ip_address or "")[:64] or None,
        user_agent=(user_agent or "")[:255] or None,
        created_at=now,
        last_activity_at=now,
        expires_at=_expiry(now, now, settings),
    )
    session.add(row)
    session.flush()
    return OpenedSession(token, row)


def _expiry(created: datetime, now: datetime, settings: WebUISection) -> datetime:
    return min(now + timedelta(hours=settings.session_idle_hours), created + timedelta(days=settings.session_max_days))


def find_session(session: Session, token: str, settings: WebUISection, now: datetime) -> UISession | None:
    """The live session of `token` (sliding its idle expiry forward), or None."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(UISession).where(UISession.token_hash == _digest(token)))
    if row is None or row.expires_at <= now:
        return None
    if now - row.last_activity_at >= TOUCH_EVERY:
        row.last_activity_at = now
        row.expires_at = _expiry(row.created_at, now, settings)
    return row


def close_session(session: Session, token: str) -> None:
    session.execute(delete(UISession).where(UISession.token_hash == _digest(token)))


def close_user_sessions(session: Session, user_id: int, keep: int | None = None) -> None:
    """Log `user_id` out everywhere (after a password change or reset), except session `keep`."""
    query = delete(UISession).where(UISession.user_id == user_id)
    if keep is not None:
        query = query.where(UISession.id != keep)
    session.execute(query)


def delete_expired(session: Session, settings: WebUISection, now: datetime) -> int:
    """Hourly (reference §8, Postal's CleanupAuthieSessions): ended sessions and old failures."""
    conn = session.connection()
    ended = conn.execute(delete(UISession).where(UISession.expires_at <= now)).rowcount
    window = timedelta(minutes=settings.login_failure_window_minutes)
    failures = conn.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - window)).rowcount
    return int(ended) + int(failures)


# -- login throttling --------------------------------------------------------------------------


def login_refused_for(
    session: Session, settings: WebUISection, ip_address: str, email: str, now: datetime
) -> float | None:
    """Seconds to wait when this address or this account has failed too often lately, else None."""
    since = now - timedelta(minutes=settings.login_failure_window_minutes)
    for column, value, limit in (
        (LoginFailure.ip_address, ip_address[:64], settings.login_failures_per_address),
        (LoginFailure.email_address, email.strip().lower()[:255], settings.login_failures_per_account),
    ):
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.created_at)).where(
                column == value, LoginFailure.created_at > since
            )
        ).one()
        if count >= limit and oldest is not None:
            return max(1.0, (oldest - since).total_seconds())
    return None


def record_login_failure(session: Session, ip_address: str, email: str, now: datetime) -> None:
    session.add(LoginFailure(ip_address=ip_address[:64], email_address=email.strip().lower()[:255], created_at=now))
    session.flush()


def clear_login_failures(session: Session, email: str) -> None:
    """After a successful login the account's count starts again (the address's stays)."""
    session.execute(delete(LoginFailure).where(LoginFailure.email_address == email.strip().lower()[:255]))
