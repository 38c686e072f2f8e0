"""One message: its properties, activity, headers, spam checks, bodies and attachments, its raw
download, and the operator's actions on it (retry or release, cancel hold, remove from queue)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from web.ui.context import server_context
from web.ui.page import Page, View

TABS = (
    ("properties", "Properties"),
    ("activity", "Activity"),
    ("headers", "Headers"),
    ("spam", "Spam checks"),
    ("plain", "Plain text"),
    ("html", "HTML"),
    ("attachments", "Attachments"),
)
TAB_NAMES = {key for key, _ in TABS}
ACTIONS = {
    "release": "released",
    "cancel": "hold cancelled",
    "retry": "queued to retry now",
    "remove": "removed from the queue",
}
# The sender's HTML in the sandboxed frame: no scripts, forms, plugins or remote content, and only
# our own pages may frame it.
HTML_CSP = "sandbox; default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'"
# Downloads are never rendered as pages of this site.
DOWNLOAD_CSP = "sandbox; default-src 'none'"


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def timeline(deliveries: list[dict[str, Any]], activity: dict[str, Any]) -> list[dict[str, Any]]:
    """Deliveries, opens and clicks as one list, oldest first."""
    entries: list[dict[str, Any]] = []
    for d in deliveries:
        took = f"took {d['time']:.2f}s" if d.get("time") is not None else None
        extra = " · ".join(x for x in (took, "over TLS" if d.get("sent_with_ssl") else None,
                                       f"log {d['log_id']}" if d.get("log_id") else None) if x)  # fmt: skip
        entries.append({"time": d["timestamp"], "title": d["status"], "status": d["status"],
                        "details": d.get("details"), "output": d.get("output"), "extra": extra})  # fmt: skip
    for load in activity["loads"]:
        entries.append({"time": load["timestamp"], "title": "Opened", "status": None, "output": None,
                        "details": _client(load), "extra": None})  # fmt: skip
    for click in activity["clicks"]:
        entries.append({"time": click["timestamp"], "title": "Clicked", "status": None, "output": None,
                        "details": click["url"], "extra": _client(click)})  # fmt: skip
    return sorted(entries, key=lambda e: _moment(e["time"]))


def _client(event: dict[str, Any]) -> str:
    return " · ".join(x for x in (event.get("ip_address"), event.get("user_agent")) if x)


class MessagePage(Page):
    """GET a tab of the message (`/messages/{id}` is Properties); POST `/messages/{id}/<action>`."""

    def get(self, view: View, org: str, server: str, id: str, tab: str = "properties") -> None:
        if tab not in TAB_NAMES:
            view.not_found()
        ctx = server_context(view, org, server)
        message = view.call("get_message", org=org, server=server, id=id)
        entries: list[dict[str, Any]] = []
        if tab == "activity":
            deliveries = view.call("list_deliveries", org=org, server=server, id=id)["deliveries"]
            entries = timeline(deliveries, view.call("get_activity", org=org, server=server, id=id))
        view.render("messages/message.html", **ctx, tab="messages", subtab="", message=message, tabs=TABS,
                    current=tab, timeline=entries)  # fmt: skip

    def post(self, view: View, org: str, server: str, id: str, tab: str = "") -> None:
        if tab not in ACTIONS:
            view.not_found()
        ctx = server_context(view, org, server)
        result = view.call(f"{tab}_message", org=org, server=server, id=id)
        [outcome] = result["messages"]
        back = f"{ctx['server_path']}/messages/{id}"
        if outcome["done"]:
            view.redirect(back, notice=f"The message was {ACTIONS[tab]}.")
        view.redirect(back, alert=f"Nothing was done: {outcome['result']}.")


class HTMLBody(Page):
    """The HTML body for the message page's sandboxed frame, without the tracking image."""

    def get(self, view: View, org: str, server: str, id: str) -> None:
        body = view.call("get_message_html", org=org, server=server, id=id)
        view.send_file(body.body, body.content_type)
        # After the framework's own headers: these replace them for this answer only.
        view.resp.set_header("Content-Security-Policy", HTML_CSP)
        view.resp.set_header("X-Frame-Options", "SAMEORIGIN")


class Download(Page):
    """The message as received, an `.eml` file."""

    def get(self, view: View, org: str, server: str, id: str) -> None:
        raw = view.call("get_raw_message", org=org, server=server, id=id)
        view.send_file(raw.body, raw.content_type, raw.filename)
        view.resp.set_header("Content-Security-Policy", DOWNLOAD_CSP)


class AttachmentDownload(Page):
    def get(self, view: View, org: str, server: str, id: str, n: str) -> None:
        if not (n.isascii() and n.isdigit()) or len(n) > 5:
            view.not_found("attachment")
        found = view.call("get_attachment", query={"index": int(n)}, org=org, server=server, id=id)
        view.send_file(found.body, found.content_type, found.filename)
        view.resp.set_header("Content-Security-Policy", DOWNLOAD_CSP)


MESSAGE = "/org/{org}/servers/{server}/messages/{id}"
ROUTES: list[tuple[str, type[Page]]] = [
    (MESSAGE, MessagePage),
    (MESSAGE + "/{tab}", MessagePage),
    (MESSAGE + "/html/raw", HTMLBody),
    (MESSAGE + "/download", Download),
    (MESSAGE + "/attachments/{n}", AttachmentDownload),
]
