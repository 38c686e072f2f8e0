"""Tracking domains that rewrite links and count opens for a server's domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import DNSStatus


class TrackDomain(Timestamps, MainBase):
    __tablename__ = "track_domains"
    __table_args__ = (UniqueConstraint("server_id", "domain_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    dns_checked_at: Mapped[datetime | None]
    dns_status: Mapped[DNSStatus | None] = mapped_column(enum_column(DNSStatus))
    dns_error: Mapped[str | None] = mapped_column(String(255))
    ssl_enabled: Mapped[bool] = mapped_column(default=True)
    track_clicks: Mapped[bool] = mapped_column(default=True)
    track_loads: Mapped[bool] = mapped_column(default=True)
    excluded_click_domains: Mapped[str | None] = mapped_column(Text)
