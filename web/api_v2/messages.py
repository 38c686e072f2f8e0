"""`/organizations/{org}/servers/{server}/messages`: search a server's messages with Postal's
search syntax, and read one message, its raw data, deliveries and opens and clicks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, select

from core import presenters
from core.errors import NotFound
from core.messages.raw_store import load_raw_message
from core.messages.search import MESSAGES, TERMS, parse
from core.messages.view import activity_entries, deliveries_data, find_message, message_data
from models.enums import MessageScope, MessageStatus
from models.message.message import Message
from models.queued_message import QueuedMessage
from models.server import Server
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations, Param, Raw
from web.api_v2.pagination import decode_cursor, page
from web.api_v2.schema import array, boolean, enum, integer, nullable, number, obj, ref, string

ops = Operations("messages")
BASE = "/organizations/{org}/servers/{server}/messages"
ITEM = BASE + "/{id}"
TIME = nullable(string())
TEXT = nullable(string(max_length=10_000_000))
SUMMARY = {
    "id": integer(),
    "token": string(),
    "scope": enum(*(s.value for s in MessageScope)),
    "rcpt_to": nullable(string()),
    "mail_from": nullable(string()),
    "subject": nullable(string()),
    "message_id": nullable(string()),
    "tag": nullable(string()),
    "status": enum(*(s.value for s in MessageStatus)),
    "held": boolean(),
    "spam": boolean(),
    "bounce": boolean(),
    "size": nullable(integer()),
    "timestamp": string(),
    "last_delivery_attempt": TIME,
    "hold_expiry": TIME,
}
QUEUE_FIELDS = {
    "id": integer(),
    "message_id": integer(),
    "domain": nullable(string()),
    "queue": string(),
    "attempts": integer(),
    "retry_after": TIME,
    "locked": boolean(),
    "locked_at": TIME,
    "manual": boolean(),
    "created_at": TIME,
}
QUEUE_REQUIRED = ("id", "message_id", "attempts", "retry_after", "locked")
DELIVERY = obj(
    {
        "id": integer(),
        "status": string(),
        "details": nullable(string(max_length=512)),
        "output": nullable(string(max_length=512)),
        "sent_with_ssl": boolean(),
        "log_id": nullable(string()),
        "time": nullable(number()),
        "timestamp": string(),
    },
    required=("id", "status", "timestamp"),
)
OPEN = {"ip_address": nullable(string()), "user_agent": nullable(string(max_length=65535)), "timestamp": string()}
SCHEMAS = {
    "MessageSummary": obj(SUMMARY, required=("id", "token", "scope", "status", "held", "timestamp")),
    "QueueEntry": obj(QUEUE_FIELDS, required=QUEUE_REQUIRED),
    "Message": obj(
        {
            **SUMMARY,
            "inspection": obj(
                {
                    "inspected": boolean(),
                    "spam": boolean(),
                    "spam_score": number(),
                    "threat": boolean(),
                    "threat_details": nullable(string()),
                }
            ),
            "headers": {"type": "object", "additionalProperties": array(string(max_length=1_000_000))},
            "plain_body": TEXT,
            "html_body": TEXT,
            "attachments": array(
                obj({"filename": string(), "content_type": nullable(string()), "size": integer(), "hash": string()})
            ),
            "queued": {"anyOf": [ref("QueueEntry"), {"type": "null"}]},
        },
        required=("id", "token", "status", "inspection", "headers", "queued"),
    ),
    "Deliveries": obj({"deliveries": array(DELIVERY)}, required=("deliveries",)),
    "Activity": obj(
        {
            "loads": array(obj(OPEN, required=("timestamp",))),
            "clicks": array(obj({"url": string(max_length=65535), **OPEN}, required=("url", "timestamp"))),
        },
        required=("loads", "clicks"),
    ),
}
SEARCH = Param(
    "q",
    string(max_length=1000),
    "Postal's search syntax: " + ", ".join(f"`{t}:`" for t in TERMS) + "; other words match the subject.",
)
SCOPE = Param("scope", enum(*(s.value for s in MessageScope)), "Only incoming or only outgoing messages.")


@contextmanager
def message_db(call: Call, server: Server) -> Iterator[Connection]:
    """A connection to the server's message database (the read-only engine for reads)."""
    mdb = call.runtime.message_dbs.get(server.id)
    with (mdb.reader if call.read_only else mdb.engine).connect() as conn:
        yield conn


def newest_first(call: Call, server: Server, query: Select[Any]) -> dict[str, Any]:
    """A page of the messages `query` selects, newest (highest id) first."""
    if call.cursor:
        query = query.where(MESSAGES.c.id < decode_cursor(call.cursor))
    with message_db(call, server) as conn:
        rows = conn.execute(query.order_by(MESSAGES.c.id.desc()).limit(call.limit + 1)).all()
    kept, next_cursor = page(rows, call.limit, lambda row: int(row.id))
    return {"data": [presenters.message_summary(row) for row in kept], "next_cursor": next_cursor}


def the_message(call: Call, conn: Connection) -> Message:
    """The message named by the path, in the server's database; 404 otherwise."""
    ref_ = call.params["id"]
    if not ref_.isdigit() or len(ref_) > 18:
        raise not_found("message")
    try:
        return find_message(conn, int(ref_))
    except NotFound:
        raise not_found("message") from None


@ops.get(BASE, "Search messages", response=ref("MessageSummary"), paginated=True, query=(SEARCH, SCOPE))
def list_messages(call: Call) -> dict[str, Any]:
    """Newest first. An unknown search term or a value that cannot be used is refused (422)
    with the term named."""
    server = call.server()
    query = select(MESSAGES)
    where = parse(call.query.get("q") or "").where()
    if where is not None:
        query = query.where(where)
    if "scope" in call.query:
        query = query.where(MESSAGES.c.scope == call.query["scope"])
    return newest_first(call, server, query)


@ops.get(ITEM, "Get a message", response=ref("Message"))
def get_message(call: Call) -> dict[str, Any]:
    """Its details, spam and threat inspection, headers, bodies, attachments (without their data)
    and its place in the delivery queue, if queued."""
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        data = message_data(conn, message, ["inspection", "headers", "plain_body", "html_body", "attachments"])
    queued = call.session.scalar(
        select(QueuedMessage).where(QueuedMessage.server_id == server.id, QueuedMessage.message_id == message.id)
    )
    attachments = [{k: v for k, v in a.items() if k != "data"} for a in data.pop("attachments")]
    data.pop("id"), data.pop("token")
    return {
        **presenters.message_summary(message),
        **data,
        "attachments": attachments,
        "queued": presenters.queued_message(queued) if queued is not None else None,
    }


@ops.get(ITEM + "/raw", "Download a message as it was received (.eml)", response=string(),
         response_media_type="message/rfc822")  # fmt: skip
def get_raw_message(call: Call) -> Raw:
    """The stored message, headers and body; 404 once the raw data has been pruned."""
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        raw = load_raw_message(conn, message.raw_table, message.raw_headers_id, message.raw_body_id)
    if raw is None:
        raise not_found("raw message")
    org = call.organization()
    return Raw(raw, "message/rfc822", f"message-{org.permalink}-{server.permalink}-{message.id}.eml")


@ops.get(ITEM + "/deliveries", "List a message's deliveries", response=ref("Deliveries"))
def list_deliveries(call: Call) -> dict[str, Any]:
    """Every delivery attempt and status change, oldest first."""
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        deliveries = deliveries_data(conn, message.id)
    return {"deliveries": [{**d, "timestamp": presenters.epoch_iso(d["timestamp"])} for d in deliveries]}


@ops.get(ITEM + "/activity", "List a message's opens and clicks", response=ref("Activity"))
def get_activity(call: Call) -> dict[str, Any]:
    """Opens (tracking image loads) and clicks of tracked links, oldest first."""
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        return activity_entries(conn, message.id)
