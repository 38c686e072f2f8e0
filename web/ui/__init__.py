"""The web UI: server-rendered pages for operators and tenants, on the management API's operations.

Every page module lists its `ROUTES`; `register` adds them, the assets under `/assets`, and the
HTML answers for paths nothing else serves.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import falcon
from jinja2 import Environment

from core.runtime import Runtime
from web.api_v2 import operations_and_schemas
from web.api_v2.operations import Operation
from web.client_address import ClientAddress
from web.ui import (
    account,
    admin_ip_pools,
    admin_users,
    auth,
    credentials,
    domains,
    home,
    message_page,
    messages,
    oidc,
    organizations,
    overview,
    routing,
    send,
    server_settings,
    suppressions,
    track_domains,
    webhooks,
)
from web.ui.page import Page, View
from web.ui.render import environment

STATIC = Path(__file__).resolve().parent.parent / "static"
MODULES: tuple[ModuleType, ...] = (
    auth,
    oidc,
    account,
    home,
    admin_users,
    admin_ip_pools,
    organizations,
    overview,
    server_settings,
    domains,
    track_domains,
    messages,
    message_page,
    send,
    suppressions,
    routing,
    credentials,
    webhooks,
)


class UI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        operations, _ = operations_and_schemas()
        self.operations: dict[str, Operation] = {op.operation_id: op for op in operations}
        self.templates: Environment = environment()
        self.client_address = ClientAddress(runtime.config.postal.trusted_proxies)
        # Forms are small but for a CSV of suppressions: the API's own body limit applies to them.
        self.max_form_size = runtime.config.api.max_request_size

    def error_page(self, view: View, status: int, message: str) -> None:
        titles = {400: "Bad request", 403: "Not allowed", 404: "Page not found", 405: "Method not allowed",
                  413: "Too large", 503: "Unavailable"}  # fmt: skip
        view.render("error.html", status=status, title=titles.get(status, "Something went wrong"), message=message)


class NotFoundPage(Page):
    """Any path no route serves, outside the APIs: an HTML 404 instead of Falcon's JSON one (after
    a login, so that logged-out visitors learn nothing about which paths exist)."""

    def get(self, view: View, **_: str) -> None:
        view.not_found()

    post = get


def register(app: falcon.App, runtime: Runtime) -> UI:
    ui = UI(runtime)
    for module in MODULES:
        for path, page in module.ROUTES:
            app.add_route(path, page(ui))
    app.add_static_route("/assets", str(STATIC))
    app.add_sink(NotFoundPage(ui).on_get, r"^/(?!api/|assets/|\.well-known/|health\b)")
    return ui
