"""A server's suppression list: recipients it will not send to until their entry expires."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Row, bindparam, delete, func, select

from core.errors import ValidationError
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


# -- the management API: pages, single entries, CSV export and import ---------------------------

CSV_COLUMNS = ("address", "type", "reason", "timestamp", "keep_until")
MAX_ADDRESS = 255


def page_after(
    conn: Connection, now: float, after_id: int | None, limit: int, address: str | None = None
) -> Sequence[Row[tuple[object, ...]]]:
    """Unexpired entries in the order they were made (by id), after `after_id` when given."""
    query = select(SUPPRESSIONS).where(SUPPRESSIONS.c.keep_until > now).order_by(SUPPRESSIONS.c.id).limit(limit)
    if after_id is not None:
        query = query.where(SUPPRESSIONS.c.id > after_id)
    if address is not None:
        query = query.where(SUPPRESSIONS.c.address == normalise(address))
    return conn.execute(query).all()


def find(conn: Connection, entry_id: int, now: float) -> Row[tuple[object, ...]] | None:
    query = select(SUPPRESSIONS).where(SUPPRESSIONS.c.id == entry_id, SUPPRESSIONS.c.keep_until > now)
    return conn.execute(query).first()


def remove_entry(conn: Connection, entry_id: int) -> bool:
    return bool(conn.execute(delete(SUPPRESSIONS).where(SUPPRESSIONS.c.id == entry_id)).rowcount)


def check_address(address: str, field: str = "address") -> str:
    """A recipient address as the list keeps it; the list's matching is exact, so it must look like one."""
    address = normalise(address)
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(address) > MAX_ADDRESS or any(c.isspace() for c in address):
        raise ValidationError(field, f"must be an e-mail address, not {address!r}")
    return address


def to_csv(rows: Iterable[Row[tuple[object, ...]]]) -> str:
    """`address,type,reason,timestamp,keep_until`, the times in ISO 8601 (UTC)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        entry = row._mapping
        writer.writerow(
            [
                entry["address"],
                entry["type"],
                entry["reason"] or "",
                _iso(entry["timestamp"]),
                _iso(entry["keep_until"]),
            ]
        )
    return out.getvalue()


def everything(conn: Connection, now: float) -> Sequence[Row[tuple[object, ...]]]:
    return conn.execute(select(SUPPRESSIONS).where(SUPPRESSIONS.c.keep_until > now).order_by(SUPPRESSIONS.c.id)).all()


@dataclass(frozen=True)
class Entry:
    address: str
    reason: str
    timestamp: float
    keep_until: float


def parse_csv(text: str, now: float, days: float, reason: str = "imported") -> list[Entry]:
    """The entries of a CSV with a header row naming `address` and any of the other export
    columns; empty times mean now and now + `days`. The whole file is checked before anything is
    written: a bad line raises, naming it."""
    try:
        return _parse(text, now, days, reason)
    except csv.Error as exc:
        raise ValidationError("csv", f"is not valid CSV: {exc}") from None


def _parse(text: str, now: float, days: float, reason: str) -> list[Entry]:
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "address" not in columns:
        raise ValidationError("csv", f"needs a header row naming the columns ({','.join(CSV_COLUMNS)})")
    reader.fieldnames = columns
    entries: dict[str, Entry] = {}
    for row in reader:
        line = reader.line_num
        try:
            address = check_address(row.get("address") or "", "csv")
            kind = (row.get("type") or "recipient").strip().lower()
            if kind != "recipient":
                raise ValidationError("csv", f"type must be recipient, not {kind!r}")
            timestamp = _time(row.get("timestamp"), now)
            keep_until = _time(row.get("keep_until"), timestamp + days * 86400)
            entries[address] = Entry(address, (row.get("reason") or "").strip()[:255] or reason, timestamp, keep_until)
        except ValidationError as exc:
            raise ValidationError("csv", f"line {line}: {exc.message}") from None
    return list(entries.values())


def restore(conn: Connection, entry: Entry) -> None:
    """Add `entry` with its own times (an import), or replace the address's entry with it."""
    upsert_set(
        conn,
        SUPPRESSIONS,
        {"type": "recipient", "address": entry.address},
        {"reason": entry.reason, "timestamp": entry.timestamp, "keep_until": entry.keep_until},
    )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).isoformat()


def _time(text: str | None, default: float) -> float:
    """Seconds since the epoch, or an ISO 8601 time (UTC unless it says otherwise)."""
    text = (text or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("csv", f"{text!r} is not a time (ISO 8601 or seconds since 1970)") from None
        value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value) or not 0 <= value < 2**32:
        raise ValidationError("csv", f"{text!r} is out of range")
    return value
