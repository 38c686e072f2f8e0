"""Raw message storage in per-day tables: headers and body as separate rows, large parts chunked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError

from core.mail.headers import join_raw, split_raw
from core.message_db import MessageDB
from core.messages.stats import add_raw_size
from models.message.raw import raw_table, raw_table_name

# Chunk size well under MariaDB's default max_allowed_packet (16 MB) after escaping.
CHUNK_SIZE = 4 * 1024 * 1024


def ensure_raw_table(conn: Connection, mdb: MessageDB, name: str) -> None:
    if name in mdb.raw_tables:
        return
    with mdb.raw_tables_lock:
        raw_table(name).create(conn, checkfirst=True)
        mdb.raw_tables.add(name)


def _insert_chunked(conn: Connection, name: str, data: bytes) -> int:
    """Insert `data` as a chain of chunks (last first, so each knows its `next`); the first id."""
    table = raw_table(name)
    chunks = [data[i : i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]
    next_id: int | None = None
    for chunk in reversed(chunks):
        result = conn.execute(insert(table).values(data=chunk, next=next_id))
        next_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    assert next_id is not None
    return next_id


_read_parts: dict[str, object] = {}
_inserts: dict[str, object] = {}


def _insert_statement(name: str) -> Any:
    """Multi-row INSERT … RETURNING into a day's table, built once per table."""
    statement = _inserts.get(name)
    if statement is None:
        table = raw_table(name)
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        _inserts[name] = statement
    return statement


def store_raw_messages(
    conn: Connection, mdb: MessageDB, raws: Sequence[bytes], day: date
) -> tuple[str, list[tuple[int, int]]]:
    """Store each raw message; returns the table name and `(headers_id, body_id)` per message.

    Every small part goes into one multi-row INSERT … RETURNING (one round trip per batch).
    """
    name = raw_table_name(day)
    ensure_raw_table(conn, mdb, name)
    parts: list[bytes] = []
    for raw in raws:
        parts.extend(split_raw(raw))
    ids: list[int | None] = [None] * len(parts)
    small = [i for i, part in enumerate(parts) if len(part) <= CHUNK_SIZE]
    if small:
        rows = conn.execute(
            _insert_statement(name),
            [{"data": parts[i], "next": None} for i in small],
        ).all()
        for i, row in zip(small, rows, strict=True):
            ids[i] = int(row[0])
    for i, part in enumerate(parts):
        if ids[i] is None:
            ids[i] = _insert_chunked(conn, name, part)
    add_raw_size(conn, name, sum(len(p) for p in parts))
    pairs = [(int(ids[2 * k] or 0), int(ids[2 * k + 1] or 0)) for k in range(len(raws))]
    return name, pairs


def _read_statement(name: str) -> Any:
    """SELECT of a day's table by a list of ids, built once per table."""
    statement = _read_parts.get(name)
    if statement is None:
        table = raw_table(name)
        statement = select(table.c.id, table.c.data, table.c.next).where(
            table.c.id.in_(bindparam("b_ids", expanding=True))
        )
        _read_parts[name] = statement
    return statement


def _missing_table(exc: DBAPIError) -> bool:
    """True when the error says the raw table is gone (retention dropped it), and only then:
    a database that cannot be reached must not look like a removed message."""
    if "no such table" in str(exc.orig):  # SQLite
        return True
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    return len(args) > 0 and args[0] == 1146  # MariaDB: ER_NO_SUCH_TABLE


def load_raw_messages(
    conn: Connection, refs: Sequence[tuple[str | None, int | None, int | None]]
) -> list[bytes | None]:
    """Each stored message `(table, headers_id, body_id)`, or None where retention removed it.
    One query per day's table for all the parts; only chunked (very large) parts need more."""
    found: dict[tuple[str, int], tuple[bytes, int | None]] = {}
    wanted: dict[str, set[int]] = {}
    for name, headers_id, body_id in refs:
        if name and headers_id is not None and body_id is not None:
            wanted.setdefault(name, set()).update((headers_id, body_id))
    missing_tables: set[str] = set()
    for name, ids in wanted.items():
        try:
            for row in conn.execute(_read_statement(name), {"b_ids": sorted(ids)}):
                found[(name, row.id)] = (row.data or b"", row.next)
        except DBAPIError as exc:
            if not _missing_table(exc):
                raise
            missing_tables.add(name)
    results: list[bytes | None] = []
    for name, headers_id, body_id in refs:
        if not name or headers_id is None or body_id is None or name in missing_tables:
            results.append(None)
            continue
        parts = [_follow(conn, name, found.get((name, first))) for first in (headers_id, body_id)]
        results.append(join_raw(parts[0], parts[1]) if parts[0] is not None and parts[1] is not None else None)
    return results


def _follow(conn: Connection, name: str, first: tuple[bytes, int | None] | None) -> bytes | None:
    """A part's data, with the chunks that follow it."""
    if first is None:
        return None
    data, next_id = first
    table = raw_table(name)
    while next_id is not None:
        chunk = conn.execute(select(table.c.data, table.c.next).where(table.c.id == next_id)).first()
        if chunk is None:
            return None
        data += chunk.data or b""
        next_id = chunk.next
    return data


def load_raw_message(conn: Connection, name: str | None, headers_id: int | None, body_id: int | None) -> bytes | None:
    """The stored message, or None when retention has removed it."""
    return load_raw_messages(conn, [(name, headers_id, body_id)])[0]


_header_updates: dict[str, object] = {}


def replace_raw_headers_many(conn: Connection, name: str, items: Sequence[tuple[int, bytes]]) -> None:
    """Rewrite several header parts of one day's table in one statement (executemany)."""
    statement = _header_updates.get(name)
    if statement is None:
        table = raw_table(name)
        statement = update(table).where(table.c.id == bindparam("b_id")).values(data=bindparam("b_data"), next=None)
        _header_updates[name] = statement
    conn.execute(statement, [{"b_id": row_id, "b_data": data} for row_id, data in items])  # type: ignore[call-overload]


def replace_raw_headers(conn: Connection, name: str, headers_id: int, headers: bytes) -> None:
    """Rewrite the header part in place (DKIM signature and X-Postal-MsgID are prepended before sending)."""
    table = raw_table(name)
    conn.execute(update(table).where(table.c.id == headers_id).values(data=headers, next=None))
