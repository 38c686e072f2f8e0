"""A server's suppression list: recipients it will not send to until their entry expires."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Row, bindparam, delete, func, select

from core.upsert import upsert_set
from models.base import table
from models.message.suppression import Suppression

SUPPRESSIONS = table(Suppression)
GET = select(SUPPRESSIONS).where(
    SUPPRESSIONS.c.type == "recipient",
    SUPPRESSIONS.c.address == bindparam("b_address"),
    SUPPRESSIONS.c.keep_until > bindparam("b_now"),
)
REMOVE = delete(SUPPRESSIONS).where(
    SUPPRESSIONS.c.type == "recipient", SUPPRESSIONS.c.address == bindparam("b_address")
)


def normalise(address: str) -> str:
    return address.strip().lower()


def get(conn: Connection, address: str, now: float) -> Row[tuple[object, ...]] | None:
    """The unexpired entry for `address`, if any."""
    return conn.execute(GET, {"b_address": normalise(address), "b_now": now}).first()


GET_MANY = select(SUPPRESSIONS).where(
    SUPPRESSIONS.c.type == "recipient",
    SUPPRESSIONS.c.address.in_(bindparam("b_addresses", expanding=True)),
    SUPPRESSIONS.c.keep_until > bindparam("b_now"),
)


def get_many(conn: Connection, addresses: Sequence[str], now: float) -> Sequence[Row[tuple[object, ...]]]:
    """The unexpired entries for any of `addresses` (normalised), in one query."""
    if not addresses:
        return []
    return conn.execute(GET_MANY, {"b_addresses": [normalise(a) for a in addresses], "b_now": now}).all()


def add(conn: Connection, address: str, reason: str, now: float, days: float) -> None:
    """Add `address` (or renew its entry with the new reason) for `days` days (reference §3.9)."""
    upsert_set(
        conn,
        SUPPRESSIONS,
        {"type": "recipient", "address": normalise(address)},
        {"reason": reason, "timestamp": now, "keep_until": now + days * 86400},
    )


def remove(conn: Connection, address: str) -> bool:
    return bool(conn.execute(REMOVE, {"b_address": normalise(address)}).rowcount)


def listing(conn: Connection, now: float, limit: int = 100, offset: int = 0) -> Sequence[Row[tuple[object, ...]]]:
    """Unexpired entries, newest first."""
    return conn.execute(
        select(SUPPRESSIONS)
        .where(SUPPRESSIONS.c.keep_until > now)
        .order_by(SUPPRESSIONS.c.timestamp.desc(), SUPPRESSIONS.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()


def count(conn: Connection, now: float) -> int:
    return int(conn.execute(select(func.count()).where(SUPPRESSIONS.c.keep_until > now)).scalar() or 0)


def prune(conn: Connection, now: float) -> int:
    """Delete expired entries (the daily job)."""
    return int(conn.execute(delete(SUPPRESSIONS).where(SUPPRESSIONS.c.keep_until <= now)).rowcount)
