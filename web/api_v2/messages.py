"""`/organizations/{org}/servers/{server}/messages`: search a server's messages with Postal's
search syntax, read one message, its raw data, HTML, attachments, deliveries and opens and
clicks, and send a test message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Select, select

from core import presenters
from core.errors import NotFound
from core.incoming.submission import submit_test_incoming
from core.messages.raw_store import load_raw_message
from core.messages.search import MESSAGES, TERMS, parse
from core.messages.view import (
    activity_entries,
    attachment,
    deliveries_data,
    find_message,
    message_data,
    spam_checks,
    without_tracking_image,
)
from core.outgoing.submission import TestMessage, submit_test_message
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
            "spam_checks": array(
                obj(
                    {"code": string(), "score": number(), "description": nullable(string())}, required=("code", "score")
                )
            ),
            "bounce_for_id": nullable(integer()),
            "received_with_ssl": nullable(boolean()),
            "loaded": TIME,
            "clicked": TIME,
        },
        required=("id", "token", "status", "inspection", "headers", "queued"),
    ),
    "TestMessageResult": obj(
        {
            "message_id": nullable(string()),
            "messages": array(obj({"id": integer(), "token": string(), "rcpt_to": string()})),
        },
        required=("message_id", "messages"),
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
HIDE_SPAM = Param(
    "hide_spam",
    boolean(),
    "Leave out messages marked as spam unless the search has a `spam:` or `msgid:` term (as Postal's lists).",
)


@contextmanager
def message_db(call: Call, server: Server) -> Iterator[Connection]:
    """A connection to the server's message database (the read-only engine for reads)."""
    mdb = call.runtime.message_dbs.get(server.id)
    with (mdb.reader if call.read_only else mdb.engine).connect() as conn:
        yield conn


def newest_first(call: Call, server: Server, query: Select[Any], oldest_first: bool = False) -> dict[str, Any]:
    """A page of the messages `query` selects, newest (highest id) first, or oldest first."""
    if call.cursor:
        after = decode_cursor(call.cursor)
        query = query.where(MESSAGES.c.id > after if oldest_first else MESSAGES.c.id < after)
    order = MESSAGES.c.id.asc() if oldest_first else MESSAGES.c.id.desc()
    with message_db(call, server) as conn:
        rows = conn.execute(query.order_by(order).limit(call.limit + 1)).all()
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


@ops.get(BASE, "Search messages", response=ref("MessageSummary"), paginated=True, query=(SEARCH, SCOPE, HIDE_SPAM))
def list_messages(call: Call) -> dict[str, Any]:
    """Newest first (`order:oldest-first` for the oldest first). An unknown search term or a
    value that cannot be used is refused (422) with the term named."""
    server = call.server()
    query = select(MESSAGES)
    search = parse(call.query.get("q") or "")
    where = search.where()
    if where is not None:
        query = query.where(where)
    if "scope" in call.query:
        query = query.where(MESSAGES.c.scope == call.query["scope"])
    if call.query.get("hide_spam") and search.spam is None and "msgid" not in search.terms:
        query = query.where(MESSAGES.c.spam.is_(False))
    return newest_first(call, server, query, oldest_first=search.oldest_first)


@ops.get(ITEM, "Get a message", response=ref("Message"))
def get_message(call: Call) -> dict[str, Any]:
    """Its details, spam and threat inspection (with the rules that scored), headers, bodies,
    attachments (without their data; `/attachment?index=` downloads one), the message it bounces
    (`bounce_for_id`, for a bounce) and its place in the delivery queue, if queued."""
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        data = message_data(
            conn, message, ["inspection", "headers", "plain_body", "html_body", "attachments", "details"]
        )
        checks = spam_checks(conn, message.id)
    queued = call.session.scalar(
        select(QueuedMessage).where(QueuedMessage.server_id == server.id, QueuedMessage.message_id == message.id)
    )
    attachments = [{k: v for k, v in a.items() if k != "data"} for a in data.pop("attachments")]
    details = data.pop("details")
    data.pop("id"), data.pop("token")
    return {
        **presenters.message_summary(message),
        **data,
        "attachments": attachments,
        "spam_checks": checks,
        "bounce_for_id": details["bounce_for_id"] or None,
        "received_with_ssl": details["received_with_ssl"],
        "loaded": presenters.epoch_iso(message.loaded),
        "clicked": presenters.epoch_iso(message.clicked),
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


@ops.get(ITEM + "/html", "Get a message's HTML body for viewing", response=string(), response_media_type="text/html")
def get_message_html(call: Call) -> Raw:
    """The HTML body without the open-tracking image, so that looking at it is not an open;
    404 when the message has no HTML body. Serve it only in a sandbox: it is the sender's HTML."""
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        html = message_data(conn, message, ["html_body"])["html_body"]
    if html is None:
        raise not_found("HTML body")
    return Raw(without_tracking_image(html).encode(), "text/html; charset=utf-8")


@ops.get(
    ITEM + "/attachment",
    "Download an attachment",
    response=string(),
    response_media_type="application/octet-stream",
    query=(Param("index", integer(minimum=0, maximum=10_000), "Which one: from 0, in the order of `attachments`.",
                 required=True),),
)  # fmt: skip
def get_attachment(call: Call) -> Raw:
    """One attachment of the message, with its own content type and file name."""
    index = int(call.query["index"])
    server = call.server()
    with message_db(call, server) as conn:
        message = the_message(call, conn)
        found = attachment(conn, message, index)
    if found is None:
        raise not_found("attachment")
    return Raw(found.data, found.content_type or "application/octet-stream", found.filename or f"attachment-{index}")


@ops.post(
    BASE + "/test",
    "Send a test message",
    status=201,
    response=ref("TestMessageResult"),
    body=obj(
        {
            "scope": enum(*(s.value for s in MessageScope)),
            "from": string(min_length=1, max_length=255),
            "to": string(min_length=1, max_length=255),
            "subject": string(max_length=200),
            "plain_body": string(max_length=1_000_000),
            "html_body": string(max_length=1_000_000),
        },
        required=("scope", "from", "to"),
    ),
)
def send_test_message(call: Call) -> dict[str, Any]:
    """`outgoing`: sent from an address of the server's verified domains, through the submission the
    HTTP API uses. `incoming`: received as from the internet for an address one of its routes
    takes. Either way the message is queued as any other; the answer names the messages made."""
    server_id = call.server().id
    message = TestMessage(
        from_=call.body["from"],
        to=call.body["to"],
        subject=call.field("subject") or None,
        plain_body=call.field("plain_body") or None,
        html_body=call.field("html_body") or None,
    )
    # The submissions run their own transactions: end the request's first (STYLE rule 10).
    call.commit()
    if call.body["scope"] == MessageScope.INCOMING.value:
        accepted = submit_test_incoming(call.runtime, server_id, message)
    else:
        accepted = submit_test_message(call.runtime, server_id, message)
    return {
        "message_id": accepted.message_id,
        "messages": [{"id": mid, "token": token, "rcpt_to": rcpt} for rcpt, mid, token in accepted.messages],
    }
