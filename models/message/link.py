"""Tracked links in outgoing messages, and the clicks and opens recorded for them."""

from __future__ import annotations

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase
from models.message.message import EPOCH


class Link(MessageBase):
    __tablename__ = "links"
    __table_args__ = (Index("ix_links_token", "token"), Index("ix_links_message_id", "message_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int]
    token: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[float] = mapped_column(EPOCH)


class Click(MessageBase):
    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_message_id", "message_id"),
        Index("ix_clicks_link_id", "link_id"),
        Index("ix_clicks_timestamp", "timestamp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int]
    link_id: Mapped[int]
    ip_address: Mapped[str | None] = mapped_column(String(45))
    country: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    timestamp: Mapped[float] = mapped_column(EPOCH)


class Load(MessageBase):
    __tablename__ = "loads"
    __table_args__ = (Index("ix_loads_message_id", "message_id"), Index("ix_loads_timestamp", "timestamp"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int]
    ip_address: Mapped[str | None] = mapped_column(String(45))
    country: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    timestamp: Mapped[float] = mapped_column(EPOCH)
