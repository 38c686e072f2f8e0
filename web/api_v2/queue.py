"""A server's delivery queue and held messages, and what an operator does to them: release,
cancel, retry, remove — one message at a time, or in bulk by filter (as `postal message`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core import presenters
from core.errors import ValidationError
from core.messages.search import MESSAGES
from core.queue.actions import ACTIONS, Filter, apply, find_messages
from models.enums import MessageStatus
from models.queued_message import QueuedMessage
from models.server import Server
from web.api_v2.call import Call
from web.api_v2.messages import BASE, ITEM, QUEUE_FIELDS, QUEUE_REQUIRED, SCOPE, message_db, newest_first, the_message
from web.api_v2.operations import Operations, Param
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, enum, integer, obj, ref, string

ops = Operations("queue")
QUEUE = "/organizations/{org}/servers/{server}/queue"
# As many as `find_messages` selects for one bulk action.
BULK_LIMIT = 10_000
SELECTORS = ("ids", "status", "held", "recipient_domain", "older_than", "queued")
SCHEMAS = {
    "QueuedMessage": obj(
        {
            **QUEUE_FIELDS,
            "message": {"anyOf": [ref("MessageSummary"), {"type": "null"}]},
        },
        required=(*QUEUE_REQUIRED, "message"),
    ),
    "ActionResult": obj(
        {
            "action": enum(*ACTIONS),
            "count": integer(),
            "messages": array(obj({"id": integer(), "done": boolean(), "result": string()})),
        },
        required=("action", "count", "messages"),
    ),
}
RESULT = ref("ActionResult")
MAX_AGE = 100 * 365 * 86400
RECIPIENT_DOMAIN = Param(
    "recipient_domain", string(min_length=1, max_length=255), "Only messages to this domain (as the bulk action's)."
)
OLDER_THAN = Param(
    "older_than",
    integer(minimum=0, maximum=MAX_AGE),
    "Only messages older than this many seconds.",
)


def _result(call: Call, server: Server, action: str, message_ids: Sequence[int]) -> dict[str, Any]:
    # `apply` runs its own transactions, one per message: end the request's first (STYLE rule 10).
    call.commit()
    results = apply(call.runtime, server.id, action, message_ids)
    return {
        "action": action,
        "count": sum(1 for r in results if r.done),
        "messages": [{"id": r.message_id, "done": r.done, "result": r.reason} for r in results],
    }


@ops.get(QUEUE, "List the delivery queue", response=ref("QueuedMessage"), paginated=True, query=(RECIPIENT_DOMAIN,))
def list_queue(call: Call) -> dict[str, Any]:
    """The server's queued messages, oldest first: attempts so far, when the next is due
    (`retry_after`, null for now), and whether a worker is delivering it (`locked`)."""
    server = call.server()
    query = select(QueuedMessage).where(QueuedMessage.server_id == server.id)
    if call.query.get("recipient_domain"):
        query = query.where(func.lower(QueuedMessage.domain) == call.query["recipient_domain"].lower())
    listed = paginate(call.session, query, QueuedMessage.id, call.limit, call.cursor, presenters.queued_message)
    wanted = [row["message_id"] for row in listed["data"]]
    with message_db(call, server) as conn:
        found = conn.execute(select(MESSAGES).where(MESSAGES.c.id.in_(wanted))).all() if wanted else []
    messages = {row.id: presenters.message_summary(row) for row in found}
    listed["data"] = [{**row, "message": messages.get(row["message_id"])} for row in listed["data"]]
    return listed


@ops.get(BASE + "/held", "List held messages", response=ref("MessageSummary"), paginated=True,
         query=(SCOPE, RECIPIENT_DOMAIN, OLDER_THAN))  # fmt: skip
def list_held(call: Call) -> dict[str, Any]:
    """Messages held back (development mode, send limit, spam, a holding route or credential),
    newest first, as Postal's "Held" page; `recipient_domain` and `older_than` choose the ones
    the bulk action with the same filters applies to."""
    server = call.server()
    query = select(MESSAGES).where(MESSAGES.c.held.is_(True))
    if "scope" in call.query:
        query = query.where(MESSAGES.c.scope == call.query["scope"])
    if call.query.get("recipient_domain"):
        # As `find_messages`: stored addresses end with "@<domain>", compared case-insensitively.
        query = query.where(func.lower(MESSAGES.c.rcpt_to).like(f"%@{call.query['recipient_domain'].lower()}"))
    if call.query.get("older_than") is not None:
        query = query.where(MESSAGES.c.timestamp < time.time() - call.query["older_than"])
    return newest_first(call, server, query)


def _one_action(action: str, summary: str, description: str) -> None:
    def act(call: Call) -> dict[str, Any]:
        server = call.server()
        with message_db(call, server) as conn:
            message = the_message(call, conn)
        return _result(call, server, action, [message.id])

    act.__doc__ = description
    ops.post(ITEM + f"/{action}", summary, response=RESULT, operation_id=f"{action}_message")(act)


_one_action("release", "Release a held message", "Queue a held message to be delivered now, skipping the hold checks.")
_one_action("cancel", "Cancel a message's hold", "Record that the hold was removed without action (HoldCancelled).")
_one_action("retry", "Retry a message now", "A queued message runs now; a failed or held one is queued again.")
_one_action("remove", "Remove a message from the queue", "Unless a worker is delivering it right now.")


@ops.post(
    BASE + "/bulk",
    "Release, cancel, retry or remove messages in bulk",
    response=RESULT,
    body=obj(
        {
            "action": enum(*ACTIONS),
            "ids": array(integer(minimum=1, maximum=2**63 - 1), max_items=BULK_LIMIT),
            "status": enum(*(s.value for s in MessageStatus)),
            "held": boolean(),
            "recipient_domain": string(min_length=1),
            "older_than": integer(minimum=0, maximum=MAX_AGE),
            "queued": boolean(),
        },
        required=("action",),
    ),
)
def bulk_action(call: Call) -> dict[str, Any]:
    """The messages named by `ids` and those matching every filter given (`status`, `held`,
    `recipient_domain`, `older_than` in seconds, `queued`), at most 10,000 at a time. A message
    the action does not apply to is listed with `done: false` and the reason."""
    if not any(name in call.body for name in SELECTORS):
        raise ValidationError(
            "body", "name the messages (ids) or choose them with status, held, recipient_domain, older_than or queued"
        )
    server = call.server()
    ids = set(call.field("ids", []))
    if any(name in call.body for name in SELECTORS[1:]):
        older_than = call.field("older_than")
        where = Filter(
            status=call.field("status"),
            held=call.field("held"),
            recipient_domain=call.field("recipient_domain"),
            older_than=timedelta(seconds=older_than) if older_than is not None else None,
            queued=call.field("queued"),
        )
        call.commit()
        ids.update(find_messages(call.runtime, server.id, where, limit=BULK_LIMIT))
    return _result(call, server, call.body["action"], sorted(ids)[:BULK_LIMIT])
