"""A server's suppression list: the entries page by page, adding and removing one, and the list
as a CSV file to export and import."""

from __future__ import annotations

from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.page import Page, View

PAGE_SIZE = 30


def _render(view: View, org: str, server: str, status: int = 200, **forms: Any) -> None:
    ctx = server_context(view, org, server)
    page = view.call("list_suppressions", query={"limit": PAGE_SIZE, "cursor": view.query.get("cursor")},
                     org=org, server=server)  # fmt: skip
    view.render(
        "suppressions/index.html",
        status=status,
        **ctx,
        tab="messages",
        subtab="suppressions",
        page=page,
        add_error=forms.get("add_error"),
        add_values=forms.get("add_values", {}),
        import_error=forms.get("import_error"),
        import_values=forms.get("import_values", {}),
    )


def _back(view: View, org: str, server: str) -> str:
    return server_context(view, org, server)["server_path"] + "/suppressions"


class SuppressionsPage(Page):
    """GET the list; POST adds an address."""

    def get(self, view: View, org: str, server: str) -> None:
        _render(view, org, server)

    def post(self, view: View, org: str, server: str) -> None:
        body: dict[str, Any] = {"address": view.form.get("address").strip()}
        if view.form.optional("reason"):
            body["reason"] = view.form.optional("reason")
        days = view.form.optional("days")
        error: APIError | None = None
        if days is not None:
            try:
                body["days"] = float(days)
            except ValueError:
                error = APIError("validation_failed", "Days must be a number.",
                                 [{"field": "days", "message": "must be a number of days"}])  # fmt: skip
        if error is None:
            added, error = view.submit("add_suppression", body, org=org, server=server)
        if error is not None:
            _render(view, org, server, status=422, add_error=error, add_values=view.form.as_dict())
            return
        view.redirect(_back(view, org, server), notice=f"{added['address']} is on the suppression list now.")


class RemoveSuppression(Page):
    def post(self, view: View, org: str, server: str, id: str) -> None:
        entry = view.call("get_suppression", org=org, server=server, id=id)
        view.call("remove_suppression", org=org, server=server, id=id)
        view.redirect(_back(view, org, server), notice=f"{entry['address']} was removed from the suppression list.")


class ImportSuppressions(Page):
    """A CSV file upload, as the export makes it."""

    def post(self, view: View, org: str, server: str) -> None:
        upload = view.form.files.get("file")
        error: APIError | None = None
        body: dict[str, Any] = {}
        if upload is None or not upload.data.strip():
            error = APIError("validation_failed", "Choose a CSV file to import (it must not be empty).")
        else:
            try:
                body["csv"] = upload.data.decode("utf-8-sig")
            except UnicodeDecodeError:
                error = APIError(
                    "validation_failed", "The file is not UTF-8 text; export it from your spreadsheet as CSV UTF-8."
                )
        if view.form.optional("reason"):
            body["reason"] = view.form.optional("reason")
        if error is None:
            result, error = view.submit("import_suppressions", body, org=org, server=server)
        if error is not None:
            _render(view, org, server, status=422, import_error=error, import_values=view.form.as_dict())
            return
        notice = f"Imported {result['imported']} entr{'y' if result['imported'] == 1 else 'ies'}"
        if result["skipped"]:
            notice += f"; {result['skipped']} already expired and skipped"
        view.redirect(_back(view, org, server), notice=notice + ".")


class ExportSuppressions(Page):
    def get(self, view: View, org: str, server: str) -> None:
        export = view.call("export_suppressions", org=org, server=server)
        view.send_file(export.body, export.content_type, export.filename)


BASE = "/org/{org}/servers/{server}/suppressions"
ROUTES: list[tuple[str, type[Page]]] = [
    (BASE, SuppressionsPage),
    (BASE + "/{id}/remove", RemoveSuppression),
    (BASE + "/import", ImportSuppressions),
    (BASE + "/export", ExportSuppressions),
]
