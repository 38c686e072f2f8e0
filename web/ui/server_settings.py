"""A mail server's settings: the basics, the administrators' advanced settings, spam thresholds,
suspension, and deleting the server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.page import Page, View

MODES = [("Live", "Live"), ("Development", "Development (mail is held, not delivered)")]
ADVANCED_NUMBERS = {
    "send_limit": ("Send limit", int, True),
    "outbound_spam_threshold": ("Outbound spam threshold", float, True),
    "raw_message_retention_days": ("Days to keep raw messages", int, False),
    "raw_message_retention_size": ("Megabytes of raw messages to keep", int, False),
    "message_retention_days": ("Days to keep message metadata", int, False),
}
ADVANCED_FLAGS = ("allow_sender", "privacy_mode", "log_smtp_data")
SPAM_NUMBERS = {
    "spam_threshold": ("Spam threshold", float, False),
    "spam_failure_threshold": ("Spam failure threshold", float, False),
}


def _numbers(view: View, fields: Mapping[str, tuple[str, type, bool]]) -> tuple[dict[str, Any], APIError | None]:
    """The form's numbers: blank is None where allowed; a word where a number belongs is an
    input error shown beside the form, as the API's would be."""
    body: dict[str, Any] = {}
    problems = []
    for name, (label, kind, blank_ok) in fields.items():
        text = view.form.get(name).strip()
        if not text:
            if blank_ok:
                body[name] = None
            else:
                problems.append({"field": name, "message": f"{label}: enter a number"})
            continue
        try:
            body[name] = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            problems.append({"field": name, "message": f"{label}: {text!r} is not {what}"})
    error = APIError("validation_failed", "Please correct the fields below.", problems) if problems else None
    return body, error


def _require_admin(view: View) -> None:
    if not view.current_user.admin:
        raise APIError("forbidden", "Only global administrators can change these settings.")


class Settings(Page):
    """Name, mode, postmaster address and (for global admins) the IP pool."""

    def _show(self, view: View, org: str, server: str, values: dict[str, Any] | None = None,
              error: APIError | None = None, status: int = 200) -> None:  # fmt: skip
        ctx = server_context(view, org, server)
        pools = view.call("list_organization_ip_pools", org=org)
        current = ctx["server"]
        pool = next((p["permalink"] for p in pools if p["id"] == current.get("ip_pool_id")), "")
        values = values or {
            "name": current["name"],
            "mode": current["mode"],
            "postmaster_address": current.get("postmaster_address") or "",
            "ip_pool": pool,
        }
        view.render(
            "servers/settings.html", status=status, **ctx, tab="settings", subtab="general", values=values,
            error=error, modes=MODES, pools=pools, current_pool=pool,
            pool_options=[("", "— not chosen: the default pool —")] + [(p["permalink"], p["name"]) for p in pools],
        )  # fmt: skip

    def get(self, view: View, org: str, server: str) -> None:
        self._show(view, org, server)

    def post(self, view: View, org: str, server: str) -> None:
        body: dict[str, Any] = {
            "name": view.form.get("name").strip(),
            "mode": view.form.get("mode"),
            "postmaster_address": view.form.optional("postmaster_address"),
        }
        # Only global admins may move a server between pools; others do not send the field.
        if view.current_user.admin and view.form.optional("ip_pool"):
            body["ip_pool"] = view.form.get("ip_pool")
        changed, error = view.submit("update_server", body, org=org, server=server)
        if error is not None:
            return self._show(view, org, server, view.form.as_dict(), error, 422)
        view.redirect(f"/org/{org}/servers/{changed['permalink']}/settings", notice="The settings have been saved.")


class Advanced(Page):
    """Global admins only: send limit, sender header, privacy, SMTP logging, retention."""

    def _show(self, view: View, org: str, server: str, values: dict[str, Any] | None = None,
              error: APIError | None = None, status: int = 200) -> None:  # fmt: skip
        ctx = server_context(view, org, server)
        current = ctx["server"]
        values = values or {name: current.get(name) for name in (*ADVANCED_NUMBERS, *ADVANCED_FLAGS)}
        view.render(
            "servers/advanced.html", status=status, **ctx, tab="settings", subtab="advanced", values=values,
            error=error,
        )  # fmt: skip

    def get(self, view: View, org: str, server: str) -> None:
        _require_admin(view)
        self._show(view, org, server)

    def post(self, view: View, org: str, server: str) -> None:
        _require_admin(view)
        body, error = _numbers(view, ADVANCED_NUMBERS)
        if error is None:
            body.update({flag: view.form.checked(flag) for flag in ADVANCED_FLAGS})
            _, error = view.submit("update_server", body, org=org, server=server)
        if error is not None:
            values = {**view.form.as_dict(), **{flag: view.form.checked(flag) for flag in ADVANCED_FLAGS}}
            return self._show(view, org, server, values, error, 422)
        view.redirect(f"/org/{org}/servers/{server}/advanced", notice="The advanced settings have been saved.")


class Spam(Page):
    def _show(self, view: View, org: str, server: str, values: dict[str, Any] | None = None,
              error: APIError | None = None, status: int = 200) -> None:  # fmt: skip
        ctx = server_context(view, org, server)
        current = ctx["server"]
        values = values or {name: current.get(name) for name in SPAM_NUMBERS}
        view.render("servers/spam.html", status=status, **ctx, tab="settings", subtab="spam", values=values,
                    error=error)  # fmt: skip

    def get(self, view: View, org: str, server: str) -> None:
        self._show(view, org, server)

    def post(self, view: View, org: str, server: str) -> None:
        body, error = _numbers(view, SPAM_NUMBERS)
        if error is None:
            _, error = view.submit("update_server", body, org=org, server=server)
        if error is not None:
            return self._show(view, org, server, view.form.as_dict(), error, 422)
        view.redirect(f"/org/{org}/servers/{server}/spam", notice="The spam thresholds have been saved.")


class Suspend(Page):
    """Global admins: suspend with a reason (the form shows the unsuspend button when suspended)."""

    def get(self, view: View, org: str, server: str) -> None:
        _require_admin(view)
        ctx = server_context(view, org, server)
        view.render("servers/suspension.html", **ctx, tab="settings", subtab="suspension", error=None, reason="")

    def post(self, view: View, org: str, server: str) -> None:
        _require_admin(view)
        path = f"/org/{org}/servers/{server}/suspend"
        reason = view.form.get("reason").strip()
        error = None
        if not reason:
            error = APIError("validation_failed", "Give a reason: the organization's users are shown it.",
                             [{"field": "reason", "message": "can't be blank"}])  # fmt: skip
        else:
            _, error = view.submit("suspend", {"reason": reason}, org=org, server=server)
        if error is not None:
            ctx = server_context(view, org, server)
            return view.render("servers/suspension.html", status=422, **ctx, tab="settings", subtab="suspension",
                               error=error, reason=reason)  # fmt: skip
        view.redirect(path, notice="The server has been suspended.")


class Unsuspend(Page):
    def post(self, view: View, org: str, server: str) -> None:
        _require_admin(view)
        view.call("unsuspend", org=org, server=server)
        view.redirect(f"/org/{org}/servers/{server}/suspend", notice="The server has been unsuspended.")


class Delete(Page):
    """Organization admins, with their password: the server stops sending and receiving at once."""

    def _show(self, view: View, org: str, server: str, error: APIError | None = None, status: int = 200) -> None:
        ctx = server_context(view, org, server)
        view.render("servers/delete.html", status=status, **ctx, tab="settings", subtab="delete", error=error)

    def get(self, view: View, org: str, server: str) -> None:
        self._show(view, org, server)

    def post(self, view: View, org: str, server: str) -> None:
        server_context(view, org, server)  # 404 before anything else for those who cannot see it
        if not view.password_is_right(view.form.get("password")):
            error = APIError("validation_failed", "That password is not right.", [{"field": "password",
                             "message": "does not match your password"}])  # fmt: skip
            return self._show(view, org, server, error, 422)
        view.call("delete_server", org=org, server=server)
        view.redirect(f"/org/{org}", notice="The mail server has been deleted.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/org/{org}/servers/{server}/settings", Settings),
    ("/org/{org}/servers/{server}/advanced", Advanced),
    ("/org/{org}/servers/{server}/spam", Spam),
    ("/org/{org}/servers/{server}/suspend", Suspend),
    ("/org/{org}/servers/{server}/unsuspend", Unsuspend),
    ("/org/{org}/servers/{server}/delete", Delete),
]
