"""An organization's pages: creating one, its mail servers, its settings, and deleting it."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from models.enums import ServerMode
from web.api_v2.errors import APIError
from web.ui import ip_rules, org_members
from web.ui.context import organization_context, server_path
from web.ui.org_members import is_organization_admin, require_organization_admin
from web.ui.page import Page, View

NOT_CONFIRMED = "The password you entered is not correct. The organization has not been deleted."


@cache
def time_zones() -> list[tuple[str, str]]:
    """The choices of a time zone select: UTC first, then every zone by name."""
    names = sorted(available_timezones() - {"UTC"})
    return [("UTC", "UTC"), *((name, name.replace("_", " ")) for name in names)]


MODES = [(mode.value, mode.value) for mode in ServerMode]


class NewOrganization(Page):
    """`/org/new`: global admins create an organization and become its owner."""

    def get(self, view: View) -> None:
        if not view.current_user.admin:
            raise APIError("forbidden", "Only global administrators can create organizations.")
        view.render("organizations/new.html", values={"time_zone": "UTC"}, error=None, time_zones=time_zones())

    def post(self, view: View) -> None:
        body: dict[str, Any] = {"name": view.form.get("name"), "time_zone": view.form.get("time_zone") or "UTC"}
        if view.form.optional("permalink"):
            body["permalink"] = view.form.optional("permalink")
        created, error = view.submit("add_organization", body)
        if error is not None:
            view.render(
                "organizations/new.html", status=422, values=view.form.as_dict(), error=error, time_zones=time_zones()
            )
            return
        view.redirect(f"/org/{created['permalink']}", notice=f"{created['name']} has been created.")


class Servers(Page):
    """`/org/{org}`: the organization's mail servers the user may use."""

    def get(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        servers = view.call("list_servers", query={"limit": 500}, org=org)["data"]
        view.render(
            "organizations/servers.html",
            **ctx,
            tab="servers",
            servers=servers,
            can_admin=is_organization_admin(view, org),
        )


class NewServer(Page):
    """`/org/{org}/servers/new`: organization admins add a mail server."""

    def get(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        require_organization_admin(view, org)
        view.render(
            "organizations/new_server.html", **ctx, tab="servers", values={"mode": "Live"}, error=None, modes=MODES
        )

    def post(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        body: dict[str, Any] = {"name": view.form.get("name"), "mode": view.form.get("mode") or "Live"}
        if view.form.optional("permalink"):
            body["permalink"] = view.form.optional("permalink")
        created, error = view.submit("add_server", body, org=org)
        if error is not None:
            view.render(
                "organizations/new_server.html",
                status=422,
                **ctx,
                tab="servers",
                values=view.form.as_dict(),
                error=error,
                modes=MODES,
            )
            return
        view.redirect(
            server_path(ctx["org"]["permalink"], created["permalink"]), notice=f"{created['name']} has been created."
        )


class Settings(Page):
    """`/org/{org}/settings`: the name and time zone (organization admins change them)."""

    def get(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        self._show(view, ctx, dict(ctx["org"]), None)

    def _show(self, view: View, ctx: dict[str, Any], values: dict[str, Any], error: APIError | None) -> None:
        view.render(
            "organizations/settings.html",
            status=200 if error is None else 422,
            **ctx,
            tab="settings",
            values=values,
            error=error,
            time_zones=time_zones(),
            can_admin=is_organization_admin(view, ctx["org"]["permalink"]),
        )

    def post(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        body = {"name": view.form.get("name"), "time_zone": view.form.get("time_zone")}
        _, error = view.submit("update_organization", body, org=org)
        if error is not None:
            self._show(view, ctx, view.form.as_dict(), error)
            return
        view.redirect(f"/org/{org}/settings", notice="The organization's settings have been saved.")


class Delete(Page):
    """`/org/{org}/delete`: organization admins delete it, confirming with their own password."""

    def get(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        require_organization_admin(view, org)
        servers = view.call("list_servers", query={"limit": 500}, org=org)["data"]
        view.render("organizations/delete.html", **ctx, tab="delete", servers=servers, error=None)

    def post(self, view: View, org: str) -> None:
        ctx = organization_context(view, org)
        require_organization_admin(view, org)
        if not view.password_is_right(view.form.get("password")):
            servers = view.call("list_servers", query={"limit": 500}, org=org)["data"]
            view.render(
                "organizations/delete.html", status=422, **ctx, tab="delete", servers=servers, error=NOT_CONFIRMED
            )
            return
        view.call("delete_organization", org=org)
        view.redirect("/", notice=f"{ctx['org']['name']} has been deleted.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/org/new", NewOrganization),
    ("/org/{org}", Servers),
    ("/org/{org}/servers/new", NewServer),
    ("/org/{org}/settings", Settings),
    ("/org/{org}/delete", Delete),
    *org_members.ROUTES,
    *ip_rules.ROUTES,
]
