"""Idempotency keys of the HTTP API send endpoints: the first response, replayed to repeats for 24 hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, utcnow

# How long a key is remembered: a repeat after this is a new request.
LIFETIME = timedelta(hours=24)


class IdempotencyKey(MainBase):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("server_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    # The client's `Idempotency-Key` header value.
    key: Mapped[str] = mapped_column(String(255))
    # SHA-256 of the endpoint and its parameters: a key reused for another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The JSON `data` of the first successful response; NULL while that request is in progress.
    # MEDIUMTEXT on MariaDB: send/raw takes any number of recipients, TEXT stops at 64 kB.
    response: Mapped[str | None] = mapped_column(Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
