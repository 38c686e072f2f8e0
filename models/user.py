"""People who log in to the web UI and the management API, and pending invitations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, new_uuid


class User(Timestamps, MainBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str] = mapped_column(String(255), default="")
    email_address: Mapped[str] = mapped_column(String(255), unique=True)
    # bcrypt, as Postal's has_secure_password.
    password_digest: Mapped[str | None] = mapped_column(String(255))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    email_verification_token: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None]
    password_reset_token: Mapped[str | None] = mapped_column(String(255))
    password_reset_token_valid_until: Mapped[datetime | None]
    admin: Mapped[bool] = mapped_column(default=False)
    oidc_uid: Mapped[str | None] = mapped_column(String(255))
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class UserInvite(Timestamps, MainBase):
    __tablename__ = "user_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    email_address: Mapped[str] = mapped_column(String(255), index=True)
    expires_at: Mapped[datetime | None]
    # Hex SHA-256 of the token in the invitation's link: the link itself is only e-mailed.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The organization the invitee joins on accepting, and whether as one of its admins.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
