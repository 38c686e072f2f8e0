"""Mail servers: the unit that sends and receives mail, with its own message database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import ServerMode

RESERVED_SERVER_PERMALINKS = frozenset(
    {"new", "all", "search", "stats", "edit", "manage", "delete", "destroy", "remove"}
)


class Server(Timestamps, MainBase):
    __tablename__ = "servers"
    __table_args__ = (
        UniqueConstraint("organization_id", "permalink"),
        UniqueConstraint("organization_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    permalink: Mapped[str] = mapped_column(String(255))
    mode: Mapped[ServerMode] = mapped_column(enum_column(ServerMode), default=ServerMode.LIVE)
    ip_pool_id: Mapped[int | None] = mapped_column(ForeignKey("ip_pools.id", ondelete="SET NULL"))
    # Six lower-case characters used in return-path addresses and tracking URLs.
    token: Mapped[str] = mapped_column(String(32), unique=True)
    send_limit: Mapped[int | None]
    send_limit_approaching_at: Mapped[datetime | None]
    send_limit_approaching_notified_at: Mapped[datetime | None]
    send_limit_exceeded_at: Mapped[datetime | None]
    send_limit_exceeded_notified_at: Mapped[datetime | None]
    message_retention_days: Mapped[int] = mapped_column(default=60)
    raw_message_retention_days: Mapped[int] = mapped_column(default=30)
    raw_message_retention_size: Mapped[int] = mapped_column(default=2048)
    allow_sender: Mapped[bool] = mapped_column(default=False)
    spam_threshold: Mapped[float] = mapped_column(Numeric(8, 2, asdecimal=False), default=5.0)
    spam_failure_threshold: Mapped[float] = mapped_column(Numeric(8, 2, asdecimal=False), default=20.0)
    outbound_spam_threshold: Mapped[float | None] = mapped_column(Numeric(8, 2, asdecimal=False))
    postmaster_address: Mapped[str | None] = mapped_column(String(255))
    suspended_at: Mapped[datetime | None]
    suspension_reason: Mapped[str | None] = mapped_column(String(255))
    domains_not_to_click_track: Mapped[str | None] = mapped_column(Text)
    log_smtp_data: Mapped[bool] = mapped_column(default=False)
    privacy_mode: Mapped[bool] = mapped_column(default=False)
    deleted_at: Mapped[datetime | None]

    organization = relationship("Organization", back_populates="servers", lazy="raise")
