"""A server's track domains: the host names its tracked links and open images are served from."""

from __future__ import annotations

from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.page import Page, View


def _hosts(text: str) -> list[str]:
    """Excluded click domains, one a line (commas and spaces also separate them)."""
    return [host for host in text.replace(",", " ").split() if host]


def _verified_domains(view: View, org: str, server: str) -> list[str]:
    """Names of the verified domains a track domain can go under: the server's and the organization's."""
    names: list[str] = []
    for operation, params in (("list_server_domains", {"server": server}), ("list_organization_domains", {})):
        domains = view.call(operation, query={"limit": 500}, org=org, **params)["data"]
        names += [d["name"] for d in domains if d["verified"] and d["name"] not in names]
    return names


def _path(org: str, server: str) -> str:
    return f"/org/{org}/servers/{server}/track_domains"


class TrackDomains(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        page = view.call("list_track_domains", query={"cursor": view.query.get("cursor")}, org=org, server=server)
        view.render("domains/track_domains.html", **ctx, tab="domains", page=page)


class NewTrackDomain(Page):
    def _show(self, view: View, org: str, server: str, values: dict[str, Any], error: APIError | None = None,
              status: int = 200) -> None:  # fmt: skip
        ctx = server_context(view, org, server)
        domains = _verified_domains(view, org, server)
        view.render("domains/track_domain_new.html", status=status, **ctx, tab="domains", values=values, error=error,
                    domain_options=[(d, d) for d in domains])  # fmt: skip

    def get(self, view: View, org: str, server: str) -> None:
        self._show(view, org, server, {"name": "track", "ssl_enabled": True, "track_clicks": True,
                                       "track_loads": True})  # fmt: skip

    def post(self, view: View, org: str, server: str) -> None:
        label = view.form.get("name").strip().lower().rstrip(".")
        domain = view.form.get("domain").strip()
        values = {**view.form.as_dict(), **{k: view.form.checked(k) for k in ("ssl_enabled", "track_clicks",
                                                                               "track_loads")}}  # fmt: skip
        if not domain:
            missing = APIError("validation_failed", "Add and verify a domain first: a track domain goes under one.",
                             [{"field": "domain", "message": "can't be blank"}])  # fmt: skip
            return self._show(view, org, server, values, missing, 422)
        body = {
            "name": f"{label}.{domain}",
            "ssl_enabled": view.form.checked("ssl_enabled"),
            "track_clicks": view.form.checked("track_clicks"),
            "track_loads": view.form.checked("track_loads"),
            "excluded_click_domains": _hosts(view.form.get("excluded_click_domains")),
        }
        created, error = view.submit("create_track_domain", body, org=org, server=server)
        if error is not None:
            return self._show(view, org, server, values, error, 422)
        view.redirect(f"{_path(org, server)}/{created['uuid']}",
                      notice=f"{created['name']} has been added: publish its CNAME, then check it.")  # fmt: skip


class EditTrackDomain(Page):
    def _show(self, view: View, org: str, server: str, uuid: str, values: dict[str, Any] | None = None,
              error: APIError | None = None, status: int = 200) -> None:  # fmt: skip
        ctx = server_context(view, org, server)
        track = view.call("get_track_domain", org=org, server=server, uuid=uuid)
        values = values or {**track, "excluded_click_domains": "\n".join(track["excluded_click_domains"])}
        view.render("domains/track_domain_edit.html", status=status, **ctx, tab="domains", track=track,
                    values=values, error=error)  # fmt: skip

    def get(self, view: View, org: str, server: str, uuid: str) -> None:
        self._show(view, org, server, uuid)

    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        flags = {k: view.form.checked(k) for k in ("ssl_enabled", "track_clicks", "track_loads")}
        body = {**flags, "excluded_click_domains": _hosts(view.form.get("excluded_click_domains"))}
        _, error = view.submit("update_track_domain", body, org=org, server=server, uuid=uuid)
        if error is not None:
            return self._show(view, org, server, uuid, {**view.form.as_dict(), **flags}, error, 422)
        view.redirect(f"{_path(org, server)}/{uuid}", notice="The track domain has been saved.")


class CheckTrackDomain(Page):
    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        track = view.call("check_track_domain", org=org, server=server, uuid=uuid)
        if track["dns_status"] == "OK":
            view.redirect(f"{_path(org, server)}/{uuid}", notice=f"The CNAME of {track['name']} is right.")
        view.redirect(f"{_path(org, server)}/{uuid}", alert=track.get("dns_error") or "The CNAME is not right yet.")


class DeleteTrackDomain(Page):
    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        track = view.call("get_track_domain", org=org, server=server, uuid=uuid)
        view.call("delete_track_domain", org=org, server=server, uuid=uuid)
        view.redirect(_path(org, server), notice=f"{track['name']} has been removed.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/org/{org}/servers/{server}/track_domains", TrackDomains),
    ("/org/{org}/servers/{server}/track_domains/new", NewTrackDomain),
    ("/org/{org}/servers/{server}/track_domains/{uuid}", EditTrackDomain),
    ("/org/{org}/servers/{server}/track_domains/{uuid}/check", CheckTrackDomain),
    ("/org/{org}/servers/{server}/track_domains/{uuid}/delete", DeleteTrackDomain),
]
