"""A mail server's overview (graph, recent messages, held count, bounce rate, storage, message
rate) and its help page (how to send and receive mail through it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from web.ui.context import server_context
from web.ui.page import Page, View

RECENT_MESSAGES = 6
GRAPH_SERIES = (
    ("Incoming", "incoming"),
    ("Outgoing", "outgoing"),
    ("Bounces", "bounces"),
    ("Complaints", "complaints"),
)


def _graph_period(created_at: str | None, now: datetime) -> tuple[str, dict[str, str]]:
    """Postal's choice: a young server's hours (24 points in its first day, 48 in its second),
    then 30 days. Answers the statistics operation and its query."""
    created = datetime.fromisoformat(created_at.replace("Z", "+00:00")) if created_at else None
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    age = now - created if created is not None else timedelta(days=365)
    if age < timedelta(hours=24):
        return "hourly", {}
    if age < timedelta(hours=48):
        start = (now - timedelta(hours=47)).replace(minute=0, second=0, microsecond=0)
        return "hourly", {"from": start.isoformat()}
    return "daily", {}


def _graph(statistics: dict[str, Any]) -> dict[str, Any]:
    """The statistics as app.js's chart data: unix seconds and one series per counter."""
    points = statistics["data"]
    return {
        "labels": [int(datetime.fromisoformat(p["time"]).timestamp()) for p in points],
        "series": [{"name": name, "values": [p[key] for p in points]} for name, key in GRAPH_SERIES],
    }


class Overview(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        period, query = _graph_period(ctx["server"].get("created_at"), datetime.now(UTC))
        statistics = view.call(period, query=query, org=org, server=server)
        recent = view.call("list_messages", query={"limit": RECENT_MESSAGES}, org=org, server=server)["data"]
        usage = view.call("server_usage", org=org, server=server)
        view.render(
            "servers/overview.html",
            **ctx,
            tab="overview",
            period=period,
            graph=json.dumps(_graph(statistics)).replace("<", "\\u003c"),
            totals={key: sum(p[key] for p in statistics["data"]) for _, key in GRAPH_SERIES},
            recent=recent,
            usage=usage,
        )


class Help(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        connection = view.call("server_connection", org=org, server=server)
        view.render("servers/help.html", **ctx, tab="help", connection=connection)


ROUTES = [
    ("/org/{org}/servers/{server}", Overview),
    ("/org/{org}/servers/{server}/help", Help),
]
