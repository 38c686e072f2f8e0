"""The Routing tab of a mail server: its routes (which incoming addresses go where), and its endpoints."""

from __future__ import annotations

from typing import Any

from web.api_v2.errors import APIError
from web.ui import endpoints
from web.ui.context import server_context
from web.ui.endpoints import all_items, endpoint_label
from web.ui.forms import Form
from web.ui.page import Page, View

ENDPOINT_MODE = "Endpoint"
# The other modes of a route, in Postal's words; they sit beside the endpoints in one choice.
MODES = [
    ("Accept", "Accept message with no endpoint"),
    ("Hold", "Accept message and put message in hold queue"),
    ("Bounce", "Accept message and immediately send bounce to sender"),
    ("Reject", "Do not accept any incoming messages"),
]
SPAM_MODES = [
    ("Mark", "Mark: deliver spam as usual, marked as spam in its headers"),
    ("Quarantine", "Quarantine: put spam in the hold queue"),
    ("Fail", "Fail: do not deliver spam"),
]
GROUPS = [
    ("HTTPEndpoint", "HTTP endpoints"),
    ("SMTPEndpoint", "SMTP endpoints"),
    ("AddressEndpoint", "Address endpoints"),
]


def _endpoint_choices(view: View, org: str, server: str) -> list[dict[str, Any]]:
    """Every endpoint of the server, by kind: `ref`, `label`, `type`."""
    found = []
    for kind in endpoints.KINDS:
        for endpoint in all_items(view, f"list_{kind.slug}_endpoints", org=org, server=server):
            found.append({"ref": endpoint["ref"], "label": endpoint_label(endpoint), "type": endpoint["type"]})
    return found


def _domain_names(view: View, org: str, server: str) -> list[str]:
    """The verified domains a route may use: the server's and its organization's."""
    names = [d["name"] for d in all_items(view, "list_server_domains", org=org, server=server) if d["verified"]]
    names += [d["name"] for d in all_items(view, "list_organization_domains", org=org) if d["verified"]]
    return sorted(set(names))


def _route_body(form: Form) -> dict[str, Any]:
    """The mode, spam mode and endpoints the form chose. The one choice holds an endpoint (Endpoint
    mode) or another mode; additional endpoints only count in Endpoint mode, and the route's own
    endpoint ticked again as an additional one is the same delivery."""
    target = form.get("target").strip()
    body: dict[str, Any] = {"spam_mode": form.get("spam_mode")} if form.get("spam_mode") else {}
    if target and ":" not in target:
        body.update(mode=target, endpoints=[])
        return body
    extras = [ref for ref in dict.fromkeys(form.getlist("additional")) if ref and ref != target]
    body.update(mode=ENDPOINT_MODE, endpoints=[target, *extras] if target else extras)
    return body


def _route_values(route: dict[str, Any]) -> dict[str, Any]:
    """A route as its form shows it."""
    own = route["endpoints"][:1] if route["mode"] == ENDPOINT_MODE else []
    return {
        "name": route["name"],
        "domain": route["domain"] or "",
        "target": own[0] if own else route["mode"],
        "spam_mode": route["spam_mode"],
        "additional": route["endpoints"][1:],
    }


def _submitted_values(form: Form) -> dict[str, Any]:
    return {
        "name": form.get("name"),
        "domain": form.get("domain"),
        "target": form.get("target"),
        "spam_mode": form.get("spam_mode"),
        "additional": form.getlist("additional"),
    }


def _render_form(
    view: View,
    ctx: dict[str, Any],
    org: str,
    server: str,
    values: dict[str, Any],
    route: dict[str, Any] | None = None,
    error: APIError | None = None,
    status: int = 200,
) -> None:
    view.render(
        "routing/route_form.html",
        status=status,
        **ctx,
        tab="routing",
        subtab="routes",
        values=values,
        route=route,
        error=error,
        endpoints=_endpoint_choices(view, org, server),
        groups=GROUPS,
        domains=[] if route else [(name, name) for name in _domain_names(view, org, server)],
        modes=MODES,
        spam_modes=SPAM_MODES,
    )


class RouteList(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        routes = view.call("list_routes", query={"cursor": view.query.get("cursor")}, org=org, server=server)
        labels = {e["ref"]: e["label"] for e in _endpoint_choices(view, org, server)}
        view.render(
            "routing/routes.html",
            **ctx,
            tab="routing",
            subtab="routes",
            routes=routes,
            labels=labels,
            modes=dict(MODES),
        )


class NewRoute(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        choices = _endpoint_choices(view, org, server)
        target = choices[0]["ref"] if choices else MODES[0][0]
        values: dict[str, Any] = {"name": "", "domain": "", "target": target, "spam_mode": "Mark", "additional": []}
        _render_form(view, ctx, org, server, values)

    def post(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        body = _route_body(view.form)
        body["address"] = f"{view.form.get('name').strip()}@{view.form.get('domain').strip()}"
        created, error = view.submit("add_route", body, org=org, server=server)
        if error is not None:
            return _render_form(view, ctx, org, server, _submitted_values(view.form), error=error, status=422)
        view.redirect(f"{ctx['server_path']}/routes", notice=f"The route {created['address']} has been added.")


class EditRoute(Page):
    def get(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        route = view.call("get_route", org=org, server=server, uuid=uuid)
        _render_form(view, ctx, org, server, _route_values(route), route=route)

    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        route = view.call("get_route", org=org, server=server, uuid=uuid)
        changed, error = view.submit("update_route", _route_body(view.form), org=org, server=server, uuid=uuid)
        if error is not None:
            values = _submitted_values(view.form)
            return _render_form(view, ctx, org, server, values, route=route, error=error, status=422)
        view.redirect(f"{ctx['server_path']}/routes", notice=f"The route {changed['address']} has been saved.")


class DeleteRoute(Page):
    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        route = view.call("get_route", org=org, server=server, uuid=uuid)
        view.call("remove_route", org=org, server=server, uuid=uuid)
        view.redirect(f"{ctx['server_path']}/routes", notice=f"The route {route['address']} has been deleted.")


BASE = "/org/{org}/servers/{server}/routes"
ROUTES: list[tuple[str, type[Page]]] = [
    (BASE, RouteList),
    (f"{BASE}/new", NewRoute),
    (f"{BASE}/{{uuid}}/edit", EditRoute),
    (f"{BASE}/{{uuid}}/delete", DeleteRoute),
    *endpoints.ROUTES,
]
