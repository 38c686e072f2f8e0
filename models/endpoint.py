"""The three places incoming mail can be forwarded to: HTTP, SMTP and e-mail address endpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import EndpointType, HTTPEncoding, HTTPFormat, SSLMode


class HTTPEndpoint(Timestamps, MainBase):
    __tablename__ = "http_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(String(2048))
    encoding: Mapped[HTTPEncoding] = mapped_column(enum_column(HTTPEncoding), default=HTTPEncoding.BODY_AS_JSON)
    format: Mapped[HTTPFormat] = mapped_column(enum_column(HTTPFormat), default=HTTPFormat.HASH)
    strip_replies: Mapped[bool] = mapped_column(default=False)
    include_attachments: Mapped[bool] = mapped_column(default=True)
    timeout: Mapped[int] = mapped_column(default=5)
    error: Mapped[str | None] = mapped_column(Text)
    disabled_until: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class SMTPEndpoint(Timestamps, MainBase):
    __tablename__ = "smtp_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    hostname: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=25)
    ssl_mode: Mapped[SSLMode] = mapped_column(enum_column(SSLMode), default=SSLMode.AUTO)
    error: Mapped[str | None] = mapped_column(Text)
    disabled_until: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AddressEndpoint(Timestamps, MainBase):
    __tablename__ = "address_endpoints"
    __table_args__ = (UniqueConstraint("server_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    address: Mapped[str] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None]


Endpoint = HTTPEndpoint | SMTPEndpoint | AddressEndpoint
ENDPOINT_MODELS: dict[EndpointType, type[HTTPEndpoint] | type[SMTPEndpoint] | type[AddressEndpoint]] = {
    EndpointType.HTTP: HTTPEndpoint,
    EndpointType.SMTP: SMTPEndpoint,
    EndpointType.ADDRESS: AddressEndpoint,
}


def endpoint_kind(endpoint: Endpoint) -> EndpointType:
    """The type of an endpoint, as routes and messages record it."""
    return next(kind for kind, model in ENDPOINT_MODELS.items() if isinstance(endpoint, model))
