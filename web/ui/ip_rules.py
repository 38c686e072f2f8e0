"""IP pools given to an organization (global admins), and the IP rules of an organization or a
server: mail from or to matching addresses goes out through a chosen pool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import organization_context, server_context
from web.ui.org_members import is_organization_admin
from web.ui.page import Page, View


@dataclass(frozen=True)
class Scope:
    """Whose rules a page shows: the organization's, or one server's (same operations, other ids)."""

    kind: str
    params: dict[str, str]
    base: str
    layout: str
    tab: str
    context: dict[str, Any]
    can_change: bool


def _scope(view: View, org: str, server: str | None) -> Scope:
    if server is None:
        ctx = organization_context(view, org)
        return Scope(
            "organization",
            {"org": org},
            f"{ctx['org_path']}/ip_rules",
            "org_base.html",
            "ip_rules",
            ctx,
            is_organization_admin(view, org),
        )
    # A server's rules are changed by anyone who may use the server, as its other settings.
    ctx = server_context(view, org, server)
    return Scope(
        "server",
        {"org": org, "server": server},
        f"{ctx['server_path']}/ip_rules",
        "server_base.html",
        "settings",
        ctx,
        True,
    )


def _pools(view: View, org: str) -> list[dict[str, Any]]:
    """The pools a rule may use: any pool for global admins (the API then gives it to the
    organization), the organization's own for everyone else."""
    if view.current_user.admin:
        data: list[dict[str, Any]] = view.call("list_ip_pools", query={"limit": 500})["data"]
        return data
    pools: list[dict[str, Any]] = view.call("list_organization_ip_pools", org=org)
    return pools


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _body(view: View) -> dict[str, Any]:
    return {
        "ip_pool": view.form.get("ip_pool"),
        "from": _lines(view.form.get("from")),
        "to": _lines(view.form.get("to")),
    }


def _rule_values(rule: dict[str, Any], pools: list[dict[str, Any]]) -> dict[str, Any]:
    uuid = next((p["uuid"] for p in pools if p["id"] == rule["ip_pool_id"]), "")
    return {"ip_pool": uuid, "from": "\n".join(rule["from"]), "to": "\n".join(rule["to"])}


class Rules(Page):
    """The rules, and the form adding one."""

    def get(self, view: View, org: str, server: str | None = None) -> None:
        self._show(view, _scope(view, org, server), {"ip_pool": "", "from": "", "to": ""}, None)

    def _show(self, view: View, scope: Scope, values: dict[str, Any], error: APIError | None) -> None:
        rules = view.call(f"list_{scope.kind}_ip_rules", query={"limit": 500}, **scope.params)["data"]
        pools = _pools(view, scope.params["org"])
        names = {p["id"]: p["name"] for p in pools}
        view.render(
            "ip_rules/index.html",
            status=200 if error is None else 422,
            **scope.context,
            tab=scope.tab,
            layout=scope.layout,
            scope=scope,
            rules=rules,
            pools=pools,
            names=names,
            values=values,
            error=error,
        )

    def post(self, view: View, org: str, server: str | None = None) -> None:
        scope = _scope(view, org, server)
        _, error = view.submit(f"create_{scope.kind}_ip_rule", _body(view), None, **scope.params)
        if error is not None:
            self._show(view, scope, view.form.as_dict(), error)
            return
        view.redirect(scope.base, notice="The IP rule has been added.")


class Rule(Page):
    """One rule: change its pool and conditions."""

    def get(self, view: View, org: str, uuid: str, server: str | None = None) -> None:
        scope = _scope(view, org, server)
        rule = view.call(f"get_{scope.kind}_ip_rule", None, None, uuid=uuid, **scope.params)
        pools = _pools(view, org)
        self._show(view, scope, rule, pools, _rule_values(rule, pools), None)

    def _show(
        self,
        view: View,
        scope: Scope,
        rule: dict[str, Any],
        pools: list[dict[str, Any]],
        values: dict[str, Any],
        error: APIError | None,
    ) -> None:
        view.render(
            "ip_rules/edit.html",
            status=200 if error is None else 422,
            **scope.context,
            tab=scope.tab,
            layout=scope.layout,
            scope=scope,
            rule=rule,
            pools=pools,
            values=values,
            error=error,
        )

    def post(self, view: View, org: str, uuid: str, server: str | None = None) -> None:
        scope = _scope(view, org, server)
        rule = view.call(f"get_{scope.kind}_ip_rule", None, None, uuid=uuid, **scope.params)
        _, error = view.submit(f"update_{scope.kind}_ip_rule", _body(view), None, uuid=uuid, **scope.params)
        if error is not None:
            self._show(view, scope, rule, _pools(view, org), view.form.as_dict(), error)
            return
        view.redirect(scope.base, notice="The IP rule has been saved.")


class DeleteRule(Page):
    def post(self, view: View, org: str, uuid: str, server: str | None = None) -> None:
        scope = _scope(view, org, server)
        view.call(f"delete_{scope.kind}_ip_rule", None, None, uuid=uuid, **scope.params)
        view.redirect(scope.base, notice="The IP rule has been deleted.")


class Pools(Page):
    """`/org/{org}/ip_pools` (global admins): the pools the organization's servers and rules may use."""

    def get(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        every_pool = view.call("list_ip_pools", query={"limit": 500})["data"]
        given = view.call("list_organization_ip_pools", org=org)
        given_ids = {p["id"] for p in given}
        view.render(
            "organizations/ip_pools.html",
            **ctx,
            tab="ips",
            given=given,
            others=[p for p in every_pool if p["id"] not in given_ids],
        )

    def post(self, view: View, org: str) -> None:
        organization_context(view, org)
        if not view.form.get("ip_pool"):
            view.redirect(f"/org/{org}/ip_pools", alert="Choose an IP pool to give to the organization.")
        pools = view.call("assign_organization_ip_pool", {"ip_pool": view.form.get("ip_pool")}, org=org)
        name = next((p["name"] for p in pools if view.form.get("ip_pool") in (p["uuid"], p["permalink"])), "The pool")
        view.redirect(f"/org/{org}/ip_pools", notice=f"{name} can now be used by the organization.")


class UnassignPool(Page):
    def post(self, view: View, org: str, uuid: str) -> None:
        organization_context(view, org)
        pool = view.call("get_ip_pool", uuid=uuid)
        view.call("unassign_organization_ip_pool", org=org, uuid=uuid)
        view.redirect(f"/org/{org}/ip_pools", notice=f"{pool['name']} is no longer given to the organization.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/org/{org}/ip_pools", Pools),
    ("/org/{org}/ip_pools/{uuid}/delete", UnassignPool),
    ("/org/{org}/ip_rules", Rules),
    ("/org/{org}/ip_rules/{uuid}", Rule),
    ("/org/{org}/ip_rules/{uuid}/delete", DeleteRule),
    ("/org/{org}/servers/{server}/ip_rules", Rules),
    ("/org/{org}/servers/{server}/ip_rules/{uuid}", Rule),
    ("/org/{org}/servers/{server}/ip_rules/{uuid}/delete", DeleteRule),
]
