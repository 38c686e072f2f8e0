"""`/organizations/{org}/servers/{server}/complaints`: the feedback reports (RFC 5965) recipients'
mailbox providers sent about the server's messages (beyond Postal)."""

from __future__ import annotations

from typing import Any

from core import presenters
from core.messages import complaints
from web.api_v2.call import Call
from web.api_v2.operations import Operations, Param
from web.api_v2.pagination import decode_cursor, page
from web.api_v2.schema import integer, nullable, number, obj, ref, string

ops = Operations("complaints")
BASE = "/organizations/{org}/servers/{server}/complaints"
SCHEMAS = {
    "Complaint": obj(
        {
            "id": integer(),
            "message_id": {**integer(), "description": "The message complained about."},
            "report_message_id": {**nullable(integer()), "description": "The feedback report, an incoming message."},
            "address": {**string(), "description": "The recipient who complained (now suppressed)."},
            "feedback_type": {**string(), "description": "The report's Feedback-Type: abuse, fraud, virus, other."},
            "user_agent": {**nullable(string()), "description": "Who sent the report (its User-Agent)."},
            "arrival_date": nullable(string()),
            "timestamp": {**number(), "description": "When it was received, in seconds since 1970."},
        },
        required=(
            "id", "message_id", "report_message_id", "address", "feedback_type", "user_agent", "arrival_date",
            "timestamp",
        ),
    ),
}  # fmt: skip


@ops.get(
    BASE,
    "List complaints",
    response=ref("Complaint"),
    paginated=True,
    query=(Param("message_id", integer(minimum=1), "Only the complaints about this message."),),
    description="Oldest first. A complaint also put its recipient on the suppression list (reason `complaint`).",
)
def list_complaints(call: Call) -> dict[str, Any]:
    store = call.runtime.message_dbs.get(call.server().id)
    after = decode_cursor(call.cursor) if call.cursor else None
    message_id = call.query.get("message_id")
    with store.reader.connect() as conn:
        rows = complaints.page_after(conn, after, call.limit + 1, int(message_id) if message_id else None)
    kept, next_cursor = page(rows, call.limit, lambda row: int(row.id))
    return {"data": [presenters.complaint(r) for r in kept], "next_cursor": next_cursor}
