"""Raw message storage: one `raw-YYYY-MM-DD` table per UTC day, and the size of each table."""

from __future__ import annotations

import threading
from datetime import date

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MessageBase

# Dynamic tables live in their own metadata so migrations never see them.
raw_metadata = MetaData()

# LONGBLOB on MariaDB; a plain BLOB elsewhere.
RAW_DATA = LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def raw_table_name(day: date) -> str:
    return day.strftime("raw-%Y-%m-%d")


_lock = threading.Lock()
# Finished Table objects only (the metadata holds them from the moment construction starts).
_tables: dict[str, Table] = {}


def raw_table(name: str) -> Table:
    """The Table object of one day's raw data (created in the database on demand).

    Thread-safe: a Table is registered in its metadata before its columns are attached, so
    another thread must never see it half-built.
    """
    table = _tables.get(name)
    if table is not None:
        return table
    with _lock:
        table = _tables.get(name)
        if table is None:
            table = Table(
                name,
                raw_metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("data", RAW_DATA),
                # Large data is split into chunks; `next` links a chunk to the following one.
                Column("next", Integer, nullable=True),
            )
            _tables[name] = table
    return table


class RawMessageSize(MessageBase):
    __tablename__ = "raw_message_sizes"

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32), unique=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
