"""Declarative bases of the two databases, their naming convention and shared column helpers."""

from __future__ import annotations

import enum
import uuid as uuid_module
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, Table
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC now: both databases store UTC without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


def table(model: type) -> Table:
    """The Core table of a mapped class, typed as a Table (for fast Core statements)."""
    result = model.__table__  # type: ignore[attr-defined]
    assert isinstance(result, Table)
    return result


def new_uuid() -> str:
    return str(uuid_module.uuid4())


def enum_column(kind: type[enum.Enum], length: int = 20) -> Enum:
    """An enum stored by its value in a VARCHAR (STYLE rule 15), e.g. `Live`, `SMTP-IP`."""
    return Enum(
        kind,
        native_enum=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# Microsecond precision on MariaDB too (its DATETIME defaults to whole seconds).
TIMESTAMP = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


class MainBase(DeclarativeBase):
    """Tables of the main database (reference §2.1)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: TIMESTAMP}


class MessageBase(DeclarativeBase):
    """Tables of a mail server's own message database (reference §2.2)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: TIMESTAMP}


class Timestamps:
    """`created_at` / `updated_at`, maintained by SQLAlchemy."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
