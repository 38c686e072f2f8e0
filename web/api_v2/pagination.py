"""Cursor pagination: lists are ordered by id, and the cursor is an opaque token naming the last id seen."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from web.api_v2.errors import APIError

T = TypeVar("T")
PREFIX = "id:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise APIError("invalid_cursor", "the cursor is not one this API gave out") from None
    number = text.removeprefix(PREFIX)
    if not text.startswith(PREFIX) or not number.isdigit() or len(number) > 18:
        raise APIError("invalid_cursor", "the cursor is not one this API gave out")
    return int(number)


def page(items: Sequence[T], limit: int, key: Callable[[T], int]) -> tuple[list[T], str | None]:
    """The first `limit` of `items` (fetched with one extra) and the cursor of the next page."""
    if len(items) > limit:
        kept = list(items[:limit])
        return kept, encode_cursor(key(kept[-1]))
    return list(items), None


def paginate(
    session: Session,
    query: Select[Any],
    id_column: ColumnElement[int] | InstrumentedAttribute[int],
    limit: int,
    cursor: str | None,
    present: Callable[[Any], Any],
) -> dict[str, Any]:
    """`{"data": [...], "next_cursor": ...}` for an ORM query ordered by `id_column`."""
    if cursor:
        query = query.where(id_column > decode_cursor(cursor))
    rows = session.scalars(query.order_by(id_column).limit(limit + 1)).all()
    kept, next_cursor = page(rows, limit, lambda row: int(row.id))
    return {"data": [present(row) for row in kept], "next_cursor": next_cursor}
