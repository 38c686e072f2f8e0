"""Organizations (tenants) and their members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import MainBase, Timestamps, new_uuid, utcnow

# Permalinks Postal refuses because they collide with its URLs (reference §2.1).
RESERVED_ORGANIZATION_PERMALINKS = frozenset(
    {"new", "edit", "remove", "delete", "destroy", "admin", "mail", "org", "server"}
)


class Organization(Timestamps, MainBase):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    permalink: Mapped[str] = mapped_column(String(255), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    ip_pool_id: Mapped[int | None] = mapped_column(ForeignKey("ip_pools.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime | None]
    suspended_at: Mapped[datetime | None]
    suspension_reason: Mapped[str | None] = mapped_column(String(255))

    servers = relationship("Server", back_populates="organization", lazy="raise")

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None


class OrganizationUser(MainBase):
    __tablename__ = "organization_users"
    __table_args__ = (UniqueConstraint("organization_id", "user_id", "user_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(index=True)
    # `User` or `UserInvite` (Postal's polymorphic membership).
    user_type: Mapped[str] = mapped_column(String(20), default="User")
    admin: Mapped[bool] = mapped_column(default=False)
    all_servers: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrganizationUserServer(MainBase):
    """A server a member without `all_servers` may use (an addition: Postal has only the flag)."""

    __tablename__ = "organization_user_servers"
    __table_args__ = (UniqueConstraint("organization_user_id", "server_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_user_id: Mapped[int] = mapped_column(ForeignKey("organization_users.id", ondelete="CASCADE"))
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
