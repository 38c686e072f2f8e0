"""Send a test message from a server's Messages tab: outgoing through the HTTP API's submission,
or incoming as if received for one of its routes; then show the message made."""

from __future__ import annotations

from typing import Any

from web.ui.context import server_context
from web.ui.page import Page, View

FIELDS = ("scope", "from", "to", "subject", "plain_body", "html_body")


class SendPage(Page):
    def get(self, view: View, org: str, server: str) -> None:
        self._form(view, org, server, {}, None)

    def post(self, view: View, org: str, server: str) -> None:
        body: dict[str, Any] = {name: view.form.get(name).strip() for name in FIELDS if view.form.get(name).strip()}
        # Bodies keep their own spacing; only an all-blank body counts as none.
        for name in ("plain_body", "html_body"):
            if name in body:
                body[name] = view.form.get(name)
        result, error = view.submit("send_test_message", body, org=org, server=server)
        if error is not None:
            self._form(view, org, server, view.form.as_dict(), error, status=422)
            return
        ctx = server_context(view, org, server)
        [first, *others] = result["messages"]
        also = f" ({len(others) + 1} messages were made, one per endpoint of its route)" if others else ""
        view.redirect(f"{ctx['server_path']}/messages/{first['id']}", notice=f"The test message was queued{also}.")

    def _form(self, view: View, org: str, server: str, values: dict[str, Any], error: Any, status: int = 200) -> None:
        ctx = server_context(view, org, server)
        view.render("messages/send.html", status=status, **ctx, tab="messages", subtab="send", values=values,
                    error=error)  # fmt: skip


ROUTES: list[tuple[str, type[Page]]] = [("/org/{org}/servers/{server}/send", SendPage)]
