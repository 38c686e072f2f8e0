"""IP pools, the addresses in them, and the rules that pick a pool for a message."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import OwnerType


class IPPool(Timestamps, MainBase):
    __tablename__ = "ip_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # The queue name is `outgoing-<permalink>` (an addition: Postal queues per address id).
    permalink: Mapped[str] = mapped_column(String(255), unique=True)
    default: Mapped[bool] = mapped_column(default=False)


class OrganizationIPPool(Timestamps, MainBase):
    __tablename__ = "organization_ip_pools"
    __table_args__ = (UniqueConstraint("organization_id", "ip_pool_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    ip_pool_id: Mapped[int] = mapped_column(ForeignKey("ip_pools.id", ondelete="CASCADE"))


class IPAddress(Timestamps, MainBase):
    __tablename__ = "ip_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ip_pool_id: Mapped[int] = mapped_column(ForeignKey("ip_pools.id", ondelete="CASCADE"), index=True)
    ipv4: Mapped[str] = mapped_column(String(45), unique=True)
    ipv6: Mapped[str | None] = mapped_column(String(45), unique=True)
    hostname: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(default=100)


class IPPoolRule(Timestamps, MainBase):
    __tablename__ = "ip_pool_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    owner_type: Mapped[OwnerType] = mapped_column(enum_column(OwnerType))
    owner_id: Mapped[int]
    ip_pool_id: Mapped[int] = mapped_column(ForeignKey("ip_pools.id", ondelete="CASCADE"))
    from_text: Mapped[str | None] = mapped_column(Text)
    to_text: Mapped[str | None] = mapped_column(Text)
