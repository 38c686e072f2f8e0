"""A server's message lists: outgoing and incoming with Postal's search, the queue and the held
messages with actions on the selected ones or on every one matching a filter."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.page import Page, View

PAGE_SIZE = 30
EMPTY_PAGE: dict[str, Any] = {"data": [], "next_cursor": None}
# What the notice says an action did to the messages it applied to.
DONE = {
    "release": "Released",
    "cancel": "Cancelled the hold of",
    "retry": "Queued to retry now",
    "remove": "Removed from the queue",
}


def plural(count: int, word: str = "message") -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


class MessageList(Page):
    """Outgoing or incoming messages, 30 a page, searched with Postal's syntax (spam hidden unless asked)."""

    scope: ClassVar[str] = "outgoing"

    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        q = view.query.get("q", "").strip()
        query = {"q": q, "scope": self.scope, "hide_spam": True, "limit": PAGE_SIZE, "cursor": view.query.get("cursor")}
        page, error = view.submit("list_messages", query=query, org=org, server=server)
        view.render(
            "messages/list.html",
            status=422 if error else 200,
            **ctx,
            tab="messages",
            subtab=self.scope,
            heading=self.scope.capitalize(),
            q=q,
            page=page or EMPTY_PAGE,
            error=error,
        )


class OutgoingPage(MessageList):
    scope = "outgoing"


class IncomingPage(MessageList):
    scope = "incoming"


def _filters(source: dict[str, str], hours: bool) -> tuple[dict[str, str], dict[str, Any], APIError | None]:
    """The filter fields as given (to show and pass on) and as the API takes them."""
    shown: dict[str, str] = {}
    given: dict[str, Any] = {}
    domain = (source.get("recipient_domain") or "").strip().lstrip("@")
    if domain:
        shown["recipient_domain"] = given["recipient_domain"] = domain
    age = (source.get("older_than_hours") or "").strip() if hours else ""
    if age:
        shown["older_than_hours"] = age
        if not (age.isascii() and age.isdigit()) or len(age) > 6:
            error = APIError("validation_failed", "Older than must be a whole number of hours.",
                             [{"field": "older_than_hours", "message": "must be a whole number of hours"}])  # fmt: skip
            return shown, given, error
        given["older_than"] = int(age) * 3600
    return shown, given, None


def _bulk(view: View, org: str, server: str, actions: tuple[str, ...], selector: dict[str, Any], back: str) -> None:
    """Run the chosen action on the selected messages, or on every one matching the filter."""
    action = view.form.get("action")
    if action not in actions:
        view.redirect(back, alert="Choose what to do with the messages.")
    shown, given, error = _filters(view.form.as_dict(), hours="held" in selector)
    target = back + ("?" + urlencode(shown) if shown else "")
    if error is not None:
        view.redirect(target, alert=error.message)
    body: dict[str, Any] = {"action": action}
    if view.form.checked("all"):
        body.update(selector, **given)
    else:
        ids = [int(i) for i in view.form.getlist("ids") if i.isascii() and i.isdigit() and len(i) < 19]
        if not ids:
            view.redirect(target, alert="Select at least one message first.")
        body["ids"] = ids
    result = view.call("bulk_action", body, org=org, server=server)
    skipped = [m for m in result["messages"] if not m["done"]]
    notice = f"{DONE[action]} {plural(result['count'])}."
    if skipped:
        reasons = sorted({m["result"] for m in skipped})
        notice += f" {plural(len(skipped))} left as they were ({', '.join(reasons)})."
    view.redirect(target, notice=notice)


class QueuePage(Page):
    """The delivery queue: retry now or remove the selected messages, or all matching the filter."""

    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        shown, given, _ = _filters(view.query, hours=False)
        query = {**given, "limit": PAGE_SIZE, "cursor": view.query.get("cursor")}
        page, error = view.submit("list_queue", query=query, org=org, server=server)
        view.render("messages/queue.html", status=422 if error else 200, **ctx, tab="messages", subtab="queue",
                    page=page or EMPTY_PAGE, filters=shown, error=error)  # fmt: skip

    def post(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        _bulk(view, org, server, ("retry", "remove"), {"queued": True}, ctx["server_path"] + "/queue")


class HeldPage(Page):
    """Held messages: release or cancel the hold of the selected ones, or of all matching the filter."""

    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        shown, given, error = _filters(view.query, hours=True)
        page = None
        if error is None:
            query = {**given, "limit": PAGE_SIZE, "cursor": view.query.get("cursor")}
            page, error = view.submit("list_held", query=query, org=org, server=server)
        view.render("messages/held.html", status=422 if error else 200, **ctx, tab="messages", subtab="held",
                    page=page or EMPTY_PAGE, filters=shown, error=error)  # fmt: skip

    def post(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        _bulk(view, org, server, ("release", "cancel"), {"held": True}, ctx["server_path"] + "/messages/held")


SERVER = "/org/{org}/servers/{server}"
ROUTES: list[tuple[str, type[Page]]] = [
    (SERVER + "/messages/outgoing", OutgoingPage),
    (SERVER + "/messages/incoming", IncomingPage),
    (SERVER + "/queue", QueuePage),
    (SERVER + "/messages/held", HeldPage),
]
