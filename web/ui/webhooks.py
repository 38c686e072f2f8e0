"""The Webhooks tab of a mail server: its webhooks, the history of their requests, sending one again."""

from __future__ import annotations

from typing import Any

from models.webhook import SELECTABLE
from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.forms import Form
from web.ui.page import Page, View

DESCRIPTIONS = {
    "MessageSent": "A message has been delivered to its recipient or endpoint.",
    "MessageDelayed": "A delivery attempt failed and will be tried again later.",
    "MessageDeliveryFailed": "A message could not be delivered.",
    "MessageHeld": "A message has been put in the hold queue.",
    "MessageBounced": "A bounce has been received for a message sent from this server.",
    "MessageLinkClicked": "A recipient clicked a tracked link in a message.",
    "MessageLoaded": "A recipient opened a message (its tracking image was loaded).",
    "DomainDNSError": "The automatic DNS check of a domain of this server found a problem.",
    "MessageComplaint": "A recipient's mailbox provider reported a message as spam (a feedback report). "
    "Not part of Postal's events: sent only to webhooks that choose it, never to those receiving all events.",
}
CHOOSE_EVENTS = APIError(
    "validation_failed",
    "Choose the events this webhook should receive, or let it receive all events.",
    [{"field": "events", "message": "choose at least one event"}],
)


def _body(form: Form) -> tuple[dict[str, Any], APIError | None]:
    """The webhook the form describes; receiving all events is an empty list to the API, so
    "chosen events" with none chosen is refused here rather than taken for all."""
    events = [e for e in form.getlist("events") if e]
    all_events = form.get("all_events", "1") != "0"
    body: dict[str, Any] = {
        "name": form.get("name").strip(),
        "url": form.get("url").strip(),
        "enabled": form.checked("enabled"),
        "events": [] if all_events else events,
    }
    return body, (CHOOSE_EVENTS if not all_events and not events else None)


def _submitted(form: Form) -> dict[str, Any]:
    return {
        "name": form.get("name"),
        "url": form.get("url"),
        "enabled": form.checked("enabled"),
        "all_events": form.get("all_events", "1") != "0",
        "events": form.getlist("events"),
    }


def _render_form(
    view: View,
    ctx: dict[str, Any],
    values: dict[str, Any],
    webhook: dict[str, Any] | None = None,
    error: APIError | None = None,
    status: int = 200,
) -> None:
    view.render("webhooks/form.html", status=status, **ctx, tab="webhooks", values=values, webhook=webhook,
                error=error, events=[(e, DESCRIPTIONS.get(e, "")) for e in SELECTABLE])  # fmt: skip


class WebhookList(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        found = view.call("list_webhooks", query={"cursor": view.query.get("cursor")}, org=org, server=server)
        view.render("webhooks/index.html", **ctx, tab="webhooks", webhooks=found)


class NewWebhook(Page):
    def get(self, view: View, org: str, server: str) -> None:
        values = {"name": "", "url": "", "enabled": True, "all_events": True, "events": []}
        _render_form(view, server_context(view, org, server), values)

    def post(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        body, error = _body(view.form)
        if not body["name"]:
            # The API names the webhook after its URL's host when given no name.
            del body["name"]
        created = None
        if error is None:
            created, error = view.submit("add_webhook", body, org=org, server=server)
        if error is not None or created is None:
            return _render_form(view, ctx, _submitted(view.form), error=error, status=422)
        view.redirect(f"{ctx['server_path']}/webhooks", notice=f"The webhook {created['name']} has been added.")


class EditWebhook(Page):
    def get(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        webhook = view.call("get_webhook", org=org, server=server, uuid=uuid)
        _render_form(view, ctx, webhook, webhook=webhook)

    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        webhook = view.call("get_webhook", org=org, server=server, uuid=uuid)
        body, error = _body(view.form)
        changed = None
        if error is None:
            changed, error = view.submit("change_webhook", body, org=org, server=server, uuid=uuid)
        if error is not None or changed is None:
            return _render_form(view, ctx, _submitted(view.form), webhook=webhook, error=error, status=422)
        view.redirect(f"{ctx['server_path']}/webhooks", notice=f"The webhook {changed['name']} has been saved.")


class DeleteWebhook(Page):
    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        webhook = view.call("get_webhook", org=org, server=server, uuid=uuid)
        view.call("remove_webhook", org=org, server=server, uuid=uuid)
        view.redirect(f"{ctx['server_path']}/webhooks", notice=f"The webhook {webhook['name']} has been deleted.")


class WebhookHistory(Page):
    def get(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        webhook = view.call("get_webhook", org=org, server=server, uuid=uuid)
        attempts = view.call("webhook_history", query={"cursor": view.query.get("cursor")},
                             org=org, server=server, uuid=uuid)  # fmt: skip
        view.render("webhooks/history.html", **ctx, tab="webhooks", webhook=webhook, attempts=attempts)


class WebhookAttempt(Page):
    def get(self, view: View, org: str, server: str, uuid: str, id: str) -> None:
        ctx = server_context(view, org, server)
        webhook = view.call("get_webhook", org=org, server=server, uuid=uuid)
        attempt = view.call("get_webhook_attempt", org=org, server=server, uuid=uuid, id=id)
        view.render("webhooks/attempt.html", **ctx, tab="webhooks", webhook=webhook, attempt=attempt)


class ResendWebhookRequest(Page):
    def post(self, view: View, org: str, server: str, uuid: str, id: str) -> None:
        ctx = server_context(view, org, server)
        view.call("resend_webhook_request", org=org, server=server, uuid=uuid, id=id)
        view.redirect(f"{ctx['server_path']}/webhooks/{uuid}/history",
                      notice="The request has been queued to be sent again.")  # fmt: skip


BASE = "/org/{org}/servers/{server}/webhooks"
ROUTES: list[tuple[str, type[Page]]] = [
    (BASE, WebhookList),
    (f"{BASE}/new", NewWebhook),
    (f"{BASE}/{{uuid}}/edit", EditWebhook),
    (f"{BASE}/{{uuid}}/delete", DeleteWebhook),
    (f"{BASE}/{{uuid}}/history", WebhookHistory),
    (f"{BASE}/{{uuid}}/history/{{id}}", WebhookAttempt),
    (f"{BASE}/{{uuid}}/history/{{id}}/resend", ResendWebhookRequest),
]
