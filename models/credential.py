"""Credentials a mail server accepts: SMTP passwords, API keys and trusted client networks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import CredentialType


class Credential(Timestamps, MainBase):
    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    type: Mapped[CredentialType] = mapped_column(enum_column(CredentialType))
    name: Mapped[str] = mapped_column(String(255))
    # SMTP/API: a random secret; SMTP-IP: an IPv4/IPv6 address or network.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    hold: Mapped[bool] = mapped_column(default=False)
    options: Mapped[str | None] = mapped_column(Text)
    last_used_at: Mapped[datetime | None]
