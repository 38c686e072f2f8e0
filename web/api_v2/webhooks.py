"""`/organizations/{org}/servers/{server}/webhooks`: subscriptions, their request history, and
sending a request again (reference §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select

from core import presenters
from core.errors import ValidationError
from core.webhooks.requests import history_attempt, history_before, resend
from core.webhooks.subscriptions import create_webhook, delete_webhook, update_webhook, webhook_events
from models.webhook import SELECTABLE, Webhook
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations
from web.api_v2.pagination import decode_cursor, page, paginate
from web.api_v2.schema import array, boolean, enum, integer, nullable, number, obj, ref, string

ops = Operations("webhooks")
BASE = "/organizations/{org}/servers/{server}/webhooks"
ITEM = BASE + "/{uuid}"
EVENT_LIST = {
    **array(enum(*SELECTABLE), max_items=len(SELECTABLE)),
    "description": "The events to receive; none (or `[]`) for all of Postal's events, including the send limit "
    "ones. `MessageComplaint` (a feedback report about a message) is not one of Postal's: only a webhook that "
    "names it receives it.",
}
FIELDS = {
    "url": string(min_length=1, max_length=2048),
    "name": string(min_length=1),
    "events": EVENT_LIST,
    "enabled": boolean(),
}
SCHEMAS = {
    "Webhook": obj(
        {
            "id": integer(),
            "uuid": string(),
            "server_id": integer(),
            "name": string(),
            "url": string(),
            "all_events": boolean(),
            "events": array(string()),
            "enabled": boolean(),
            "last_used_at": nullable(string()),
        },
        required=("id", "uuid", "name", "url", "all_events", "events", "enabled"),
    ),
    "WebhookAttempt": obj(
        {
            "id": integer(),
            "uuid": {**string(), "description": "The request's uuid, the same in each attempt and resend."},
            "event": string(),
            "attempt": nullable(integer()),
            "timestamp": number(),
            "status_code": nullable(integer()),
            "body": nullable({"type": "string"}),
            "payload": {"description": "The event's payload, as sent."},
            "will_retry": boolean(),
            "url": nullable({"type": "string"}),
            "webhook_id": nullable(integer()),
        },
        required=("id", "uuid", "event", "timestamp", "status_code", "will_retry"),
    ),
    "WebhookResend": obj({"uuid": string(), "request_id": integer()}, required=("uuid", "request_id")),
}
WEBHOOK = ref("Webhook")
T = TypeVar("T")


def _present(call: Call, hook: Webhook) -> dict[str, Any]:
    return presenters.webhook(hook, webhook_events(call.session, hook))


def _webhook(call: Call) -> Webhook:
    server = call.server()
    hook = call.session.scalar(
        select(Webhook).where(Webhook.server_id == server.id, Webhook.uuid == call.params["uuid"])
    )
    if hook is None:
        raise not_found("webhook")
    return hook


def _attempt_id(call: Call) -> int:
    text = call.params["id"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise not_found("webhook request")
    return int(text)


def _as_body_fields(work: Callable[[], T]) -> T:
    """The use-cases name the events `event` (as the CLI's `--event`); the body says `events`."""
    try:
        return work()
    except ValidationError as exc:
        if exc.field == "event":
            raise ValidationError("events", exc.message) from None
        raise


@ops.get(BASE, "List webhooks", response=WEBHOOK, paginated=True)
def list_webhooks(call: Call) -> dict[str, Any]:
    server = call.server()
    query = select(Webhook).where(Webhook.server_id == server.id)
    return paginate(call.session, query, Webhook.id, call.limit, call.cursor, lambda h: _present(call, h))


@ops.post(BASE, "Create a webhook", status=201, response=WEBHOOK, body=obj(FIELDS, required=("url",)),
          description="The name defaults to the URL's host name.")  # fmt: skip
def add_webhook(call: Call) -> dict[str, Any]:
    server = call.server()
    hook = _as_body_fields(
        lambda: create_webhook(call.session, server, call.body["url"], call.field("name"), call.field("events"))
    )
    if call.field("enabled") is False:
        update_webhook(call.session, hook, enabled=False)
    call.runtime.servers.forget(server.id)
    return _present(call, hook)


@ops.get(ITEM, "Get a webhook", response=WEBHOOK)
def get_webhook(call: Call) -> dict[str, Any]:
    return _present(call, _webhook(call))


@ops.patch(ITEM, "Change a webhook", response=WEBHOOK, body=obj(FIELDS))
def change_webhook(call: Call) -> dict[str, Any]:
    hook = _webhook(call)
    _as_body_fields(
        lambda: update_webhook(
            call.session, hook, call.field("url"), call.field("name"), call.field("events"), call.field("enabled")
        )
    )
    call.runtime.servers.forget(hook.server_id)
    return _present(call, hook)


@ops.delete(ITEM, "Delete a webhook", description="Its pending requests are dropped; its history stays.")
def remove_webhook(call: Call) -> None:
    hook = _webhook(call)
    delete_webhook(call.session, hook)
    call.runtime.servers.forget(hook.server_id)


@ops.get(
    f"{ITEM}/history",
    "The webhook's request history",
    response=ref("WebhookAttempt"),
    paginated=True,
    description="One item per attempt, newest first (unlike other lists).",
)
def webhook_history(call: Call) -> dict[str, Any]:
    hook = _webhook(call)
    before = decode_cursor(call.cursor) if call.cursor else None
    rows = history_before(call.runtime, hook.server_id, hook.id, before, call.limit + 1)
    kept, next_cursor = page(rows, call.limit, lambda row: int(row["id"]))
    return {"data": kept, "next_cursor": next_cursor}


@ops.get(f"{ITEM}/history/{{id}}", "One attempt of the webhook's history", response=ref("WebhookAttempt"))
def get_webhook_attempt(call: Call) -> dict[str, Any]:
    hook = _webhook(call)
    return history_attempt(call.runtime, hook.server_id, hook.id, _attempt_id(call))


@ops.post(
    f"{ITEM}/history/{{id}}/resend",
    "Send a request again",
    status=202,
    response=ref("WebhookResend"),
    description="Queues the attempt's request again now, with the same uuid and payload "
    "(its pending row if it is still being retried); `request_id` is the queued request.",
)
def resend_webhook_request(call: Call) -> dict[str, Any]:
    hook = _webhook(call)
    found = history_attempt(call.runtime, hook.server_id, hook.id, _attempt_id(call))
    server_id = hook.server_id
    # resend() runs its own transactions; ours has nothing left to do.
    call.commit()
    return {"uuid": found["uuid"], "request_id": resend(call.runtime, server_id, found["uuid"])}
