"""INSERT … ON CONFLICT (SQLite) / ON DUPLICATE KEY UPDATE (MariaDB), built once per shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import mysql, sqlite

# (dialect, table, key columns, value columns, kind) → statement
_statements: dict[tuple[str, str, tuple[str, ...], tuple[str, ...], str], Any] = {}

# Given the table and the proposed row ("excluded"/"inserted"), the new value of a column.
Update = Callable[[Table, Any, str], Any]


def _statement(
    dialect: str, table: Table, keys: tuple[str, ...], columns: tuple[str, ...], kind: str, update: Update
) -> Any:
    cache_key = (dialect, table.name, keys, columns, kind)
    statement = _statements.get(cache_key)
    if statement is None:
        if dialect == "sqlite":
            lite = sqlite.insert(table)
            statement = lite.on_conflict_do_update(
                index_elements=list(keys), set_={col: update(table, lite.excluded, col) for col in columns}
            )
        else:
            my = mysql.insert(table)
            statement = my.on_duplicate_key_update({col: update(table, my.inserted, col) for col in columns})
        _statements[cache_key] = statement
    return statement


def upsert_add(conn: Connection, table: Table, key: Mapping[str, Any], amounts: Mapping[str, int]) -> None:
    """Insert the row with `amounts`, or add `amounts` to the row with the same unique `key`."""
    statement = _statement(
        conn.dialect.name, table, tuple(key), tuple(amounts), "add", lambda t, new, col: t.c[col] + new[col]
    )
    conn.execute(statement, {**key, **amounts})


def upsert_set(conn: Connection, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Insert the row, or overwrite `values` in the row with the same unique `key`."""
    statement = _statement(conn.dialect.name, table, tuple(key), tuple(values), "set", lambda t, new, col: new[col])
    conn.execute(statement, {**key, **values})


def upsert_custom(
    conn: Connection, table: Table, key: Mapping[str, Any], values: Mapping[str, Any], name: str, update: Update
) -> None:
    """Insert the row, or update `values` of the existing one with `update` (cached under `name`)."""
    statement = _statement(conn.dialect.name, table, tuple(key), tuple(values), name, update)
    conn.execute(statement, {**key, **values})
