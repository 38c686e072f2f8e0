"""Sending and receiving domains, owned by an organization or a server, with their DNS state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase, Timestamps, enum_column, new_uuid
from models.enums import DNSStatus, OwnerType, VerificationMethod


class Domain(Timestamps, MainBase):
    __tablename__ = "domains"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "name"),
        Index("ix_domains_name", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, unique=True)
    name: Mapped[str] = mapped_column(String(255))
    owner_type: Mapped[OwnerType] = mapped_column(enum_column(OwnerType))
    owner_id: Mapped[int]
    # Legacy column kept by Postal; set to the owning server for server-owned domains.
    server_id: Mapped[int | None] = mapped_column(index=True)
    verification_method: Mapped[VerificationMethod] = mapped_column(
        enum_column(VerificationMethod), default=VerificationMethod.DNS
    )
    verification_token: Mapped[str] = mapped_column(String(255))
    verified_at: Mapped[datetime | None]
    dkim_private_key: Mapped[str] = mapped_column(Text)
    dkim_identifier_string: Mapped[str] = mapped_column(String(32))
    # A rotation in progress: the new key signs nothing until its record checks out (an addition).
    dkim_pending_private_key: Mapped[str | None] = mapped_column(Text)
    dkim_pending_identifier_string: Mapped[str | None] = mapped_column(String(32))
    dns_checked_at: Mapped[datetime | None]
    spf_status: Mapped[DNSStatus | None] = mapped_column(enum_column(DNSStatus))
    spf_error: Mapped[str | None] = mapped_column(String(255))
    dkim_status: Mapped[DNSStatus | None] = mapped_column(enum_column(DNSStatus))
    dkim_error: Mapped[str | None] = mapped_column(String(255))
    mx_status: Mapped[DNSStatus | None] = mapped_column(enum_column(DNSStatus))
    mx_error: Mapped[str | None] = mapped_column(String(255))
    return_path_status: Mapped[DNSStatus | None] = mapped_column(enum_column(DNSStatus))
    return_path_error: Mapped[str | None] = mapped_column(String(255))
    outgoing: Mapped[bool] = mapped_column(default=True)
    incoming: Mapped[bool] = mapped_column(default=True)
    use_for_any: Mapped[bool] = mapped_column(default=False)

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def dns_ok(self) -> bool:
        """Postal's rule: SPF and DKIM OK, MX and return path OK or simply not set up."""
        relaxed = (DNSStatus.OK, DNSStatus.MISSING)
        return (
            self.spf_status == DNSStatus.OK
            and self.dkim_status == DNSStatus.OK
            and self.mx_status in relaxed
            and self.return_path_status in relaxed
        )
