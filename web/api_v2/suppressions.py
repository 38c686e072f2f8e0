"""`/organizations/{org}/servers/{server}/suppressions`: recipients the server will not send to
until their entry expires, with a CSV export and import."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from core import presenters
from core.message_db import MessageDB
from core.messages import suppressions
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations, Param, Raw
from web.api_v2.pagination import decode_cursor, page
from web.api_v2.schema import integer, number, obj, ref, string

ops = Operations("suppressions")
BASE = "/organizations/{org}/servers/{server}/suppressions"
ITEM = BASE + "/{id}"
DAYS = {**number(minimum=0.001, maximum=36500), "description": "How long to keep it (default "
        "`postal.default_suppression_list_automatic_removal_days`)."}  # fmt: skip
SCHEMAS = {
    "Suppression": obj(
        {
            "id": integer(),
            "address": string(),
            "type": string(),
            "reason": {"type": ["string", "null"]},
            "timestamp": {**number(), "description": "When it was added, in seconds since 1970."},
            "keep_until": {**number(), "description": "When it expires, in seconds since 1970."},
        },
        required=("id", "address", "type", "reason", "timestamp", "keep_until"),
    ),
    "SuppressionImport": obj({"imported": integer(), "skipped": integer()}, required=("imported", "skipped")),
}
SUPPRESSION = ref("Suppression")


def _present(row: Any) -> dict[str, Any]:
    return {"id": row.id, **presenters.suppression(row)}


def _now(call: Call) -> float:
    """The list keeps seconds since 1970; the runtime's clock answers naive UTC."""
    return call.runtime.clock().replace(tzinfo=UTC).timestamp()


def _store(call: Call) -> MessageDB:
    return call.runtime.message_dbs.get(call.server().id)


def _days(call: Call) -> float:
    default = call.runtime.config.postal.default_suppression_list_automatic_removal_days
    return float(call.field("days", default))


def _entry_id(call: Call) -> int:
    text = call.params["id"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise not_found("suppression")
    return int(text)


@ops.get(
    BASE,
    "List suppressed recipients",
    response=SUPPRESSION,
    paginated=True,
    query=(Param("address", string(min_length=1), "Only the entry of this address."),),
    description="Unexpired entries, oldest first.",
)
def list_suppressions(call: Call) -> dict[str, Any]:
    store = _store(call)
    after = decode_cursor(call.cursor) if call.cursor else None
    with store.reader.connect() as conn:
        rows = suppressions.page_after(conn, _now(call), after, call.limit + 1, call.query.get("address"))
    kept, next_cursor = page(rows, call.limit, lambda row: int(row.id))
    return {"data": [_present(r) for r in kept], "next_cursor": next_cursor}


@ops.post(
    BASE,
    "Suppress a recipient",
    status=201,
    response=SUPPRESSION,
    body=obj({"address": string(min_length=1), "reason": string(min_length=1), "days": DAYS}, required=("address",)),
    description="An address already on the list gets the new reason and expiry.",
)
def add_suppression(call: Call) -> dict[str, Any]:
    address = suppressions.check_address(call.body["address"])
    now = _now(call)
    with _store(call).transaction() as conn:
        suppressions.add(conn, address, call.field("reason", "added manually"), now, _days(call))
        row = suppressions.get(conn, address, now)
    return _present(row)


@ops.get(
    f"{BASE}/export",
    "Export the list as CSV",
    response={"type": "string"},
    response_media_type="text/csv",
    description="Columns `address,type,reason,timestamp,keep_until`, with a header row; the times in "
    "ISO 8601 (UTC). The import takes the same file.",
)
def export_suppressions(call: Call) -> Raw:
    server = call.server()
    with call.runtime.message_dbs.get(server.id).reader.connect() as conn:
        text = suppressions.to_csv(suppressions.everything(conn, _now(call)))
    return Raw(text.encode(), "text/csv; charset=utf-8", f"suppressions-{server.permalink}.csv")


@ops.post(
    f"{BASE}/import",
    "Import entries from CSV",
    response=ref("SuppressionImport"),
    body=obj(
        {
            "csv": {**string(min_length=1, max_length=10_000_000), "description": "The CSV text, as the export."},
            "days": DAYS,
            "reason": string(min_length=1),
        },
        required=("csv",),
    ),
    description="A header row names the columns: `address` and any of `type` (only `recipient`), `reason`, "
    "`timestamp`, `keep_until` (ISO 8601 or seconds since 1970). Missing values: `reason`, now, and now + "
    "`days`. Entries replace those of the same address; expired ones are skipped. A bad line refuses "
    "the whole file (422, naming the line).",
)
def import_suppressions(call: Call) -> dict[str, Any]:
    now = _now(call)
    entries = suppressions.parse_csv(call.body["csv"], now, _days(call), call.field("reason", "imported"))
    live = [e for e in entries if e.keep_until > now]
    with _store(call).transaction() as conn:
        for entry in live:
            suppressions.restore(conn, entry)
    return {"imported": len(live), "skipped": len(entries) - len(live)}


@ops.get(ITEM, "Get a suppression", response=SUPPRESSION)
def get_suppression(call: Call) -> dict[str, Any]:
    entry_id = _entry_id(call)
    with _store(call).reader.connect() as conn:
        row = suppressions.find(conn, entry_id, _now(call))
    if row is None:
        raise not_found("suppression")
    return _present(row)


@ops.delete(ITEM, "Remove a recipient from the list")
def remove_suppression(call: Call) -> None:
    entry_id = _entry_id(call)
    with _store(call).transaction() as conn:
        if not suppressions.remove_entry(conn, entry_id):
            raise not_found("suppression")
