"""Routes that decide where incoming mail for an address goes, and their extra endpoints."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import EndpointType, RouteMode, SpamMode


class Route(Timestamps, MainBase):
    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    mode: Mapped[RouteMode] = mapped_column(enum_column(RouteMode), default=RouteMode.ENDPOINT)
    endpoint_type: Mapped[EndpointType | None] = mapped_column(enum_column(EndpointType))
    endpoint_id: Mapped[int | None]
    spam_mode: Mapped[SpamMode] = mapped_column(enum_column(SpamMode), default=SpamMode.MARK)
    token: Mapped[str] = mapped_column(String(32), unique=True)


class AdditionalRouteEndpoint(Timestamps, MainBase):
    __tablename__ = "additional_route_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("routes.id", ondelete="CASCADE"), index=True)
    endpoint_type: Mapped[EndpointType] = mapped_column(enum_column(EndpointType))
    endpoint_id: Mapped[int]
