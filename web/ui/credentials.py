"""The Credentials tab of a mail server: SMTP passwords, API keys and trusted SMTP-IP networks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.page import Page, View

TYPES = [
    ("SMTP", "SMTP: a password for sending through the SMTP server"),
    ("API", "API: a key for the HTTP API"),
    ("SMTP-IP", "SMTP-IP: trust an IP address or network to send over SMTP without a password"),
]


def usage(last_used_at: str | None, now: datetime) -> str:
    """Postal's label for how recently a credential was used."""
    if not last_used_at:
        return "Unused"
    used = datetime.fromisoformat(last_used_at.replace("Z", "+00:00"))
    age = now.replace(tzinfo=UTC) - (used if used.tzinfo else used.replace(tzinfo=UTC))
    if age < timedelta(days=30):
        return "Active"
    if age < timedelta(days=182):
        return "Quiet"
    if age < timedelta(days=365):
        return "Dormant"
    return "Inactive"


def _now(view: View) -> datetime:
    moment = view.ui.runtime.clock()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _render_form(
    view: View,
    ctx: dict[str, Any],
    values: dict[str, Any],
    credential: dict[str, Any] | None = None,
    error: APIError | None = None,
    status: int = 200,
) -> None:
    view.render("credentials/form.html", status=status, **ctx, tab="credentials", values=values,
                credential=credential, error=error, types=TYPES)  # fmt: skip


class CredentialList(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        found = view.call("list_credentials", query={"cursor": view.query.get("cursor")}, org=org, server=server)
        now = _now(view)
        usages = {c["uuid"]: usage(c.get("last_used_at"), now) for c in found["data"]}
        view.render("credentials/index.html", **ctx, tab="credentials", credentials=found, usages=usages)


class NewCredential(Page):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        _render_form(view, ctx, {"type": view.query.get("type", "SMTP"), "name": "", "key": "", "hold": False})

    def post(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        form = view.form
        body: dict[str, Any] = {"type": form.get("type"), "hold": form.checked("hold")}
        if form.optional("name"):
            body["name"] = form.optional("name")
        if form.optional("key"):
            body["key"] = form.optional("key")
        created, error = view.submit("add_credential", body, org=org, server=server)
        if error is not None:
            values = {**form.as_dict(), "hold": form.checked("hold")}
            return _render_form(view, ctx, values, error=error, status=422)
        # The API answers an SMTP or API key only now, so this answer shows it rather than
        # redirecting to a page that could not.
        view.render("credentials/created.html", status=201, **ctx, tab="credentials", credential=created)


class EditCredential(Page):
    def get(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        credential = view.call("get_credential", org=org, server=server, uuid=uuid)
        _render_form(view, ctx, credential, credential=credential)

    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        credential = view.call("get_credential", org=org, server=server, uuid=uuid)
        body = {"name": view.form.get("name").strip(), "hold": view.form.checked("hold")}
        changed, error = view.submit("update_credential", body, org=org, server=server, uuid=uuid)
        if error is not None:
            values = {**credential, **body}
            return _render_form(view, ctx, values, credential=credential, error=error, status=422)
        view.redirect(f"{ctx['server_path']}/credentials", notice=f"The credential {changed['name']} has been saved.")


class DeleteCredential(Page):
    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        credential = view.call("get_credential", org=org, server=server, uuid=uuid)
        view.call("delete_credential", org=org, server=server, uuid=uuid)
        view.redirect(f"{ctx['server_path']}/credentials",
                      notice=f"The credential {credential['name']} has been deleted.")  # fmt: skip


BASE = "/org/{org}/servers/{server}/credentials"
ROUTES: list[tuple[str, type[Page]]] = [
    (BASE, CredentialList),
    (f"{BASE}/new", NewCredential),
    (f"{BASE}/{{uuid}}/edit", EditCredential),
    (f"{BASE}/{{uuid}}/delete", DeleteCredential),
]
