"""The HTTP, SMTP and address endpoints of a mail server: where its routes deliver incoming mail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import server_context
from web.ui.forms import Form
from web.ui.page import Page, View

# Postal's wording for each choice of an endpoint's settings.
ENCODINGS = [("BodyAsJSON", "Sent in the body as JSON"), ("FormData", "Sent as form data")]
FORMATS = [("Hash", "Delivered as the hash"), ("RawMessage", "Delivered as the raw message")]
SSL_MODES = [
    ("Auto", "Auto (use STARTTLS when the server offers it)"),
    ("STARTTLS", "Always use STARTTLS"),
    ("TLS", "Always use TLS (SMTPS)"),
    ("None", "No SSL"),
]


def all_items(view: View, operation_id: str, **params: str) -> list[dict[str, Any]]:
    """Every item of a paginated operation, page after page (for choices and lookups)."""
    limit = view.ui.runtime.config.api.max_page_size
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = view.call(operation_id, query={"limit": limit, "cursor": cursor}, **params)
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def whole_number(text: str) -> int | str:
    """A number field as the API takes it; anything else goes as typed, for the API to refuse by name."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else text


def endpoint_label(endpoint: dict[str, Any]) -> str:
    """How an endpoint is named in lists and choices."""
    if endpoint["type"] == "HTTPEndpoint":
        return f"{endpoint['name']} ({endpoint['url']})"
    if endpoint["type"] == "SMTPEndpoint":
        return f"{endpoint['name']} ({endpoint['hostname']}:{endpoint['port']})"
    return str(endpoint["address"])


def _given(body: dict[str, Any], *optional: str) -> dict[str, Any]:
    """Optional fields left empty are not sent: the API's default (or the value kept) applies."""
    return {k: v for k, v in body.items() if not (k in optional and v == "")}


def _http_body(form: Form) -> dict[str, Any]:
    body = {
        "name": form.get("name").strip(),
        "url": form.get("url").strip(),
        "encoding": form.get("encoding"),
        "format": form.get("format"),
        "strip_replies": form.checked("strip_replies"),
        "include_attachments": form.checked("include_attachments"),
        "timeout": whole_number(form.get("timeout")),
    }
    return _given(body, "encoding", "format", "timeout")


def _smtp_body(form: Form) -> dict[str, Any]:
    body = {
        "name": form.get("name").strip(),
        "hostname": form.get("hostname").strip(),
        "port": whole_number(form.get("port")),
        "ssl_mode": form.get("ssl_mode"),
    }
    return _given(body, "port", "ssl_mode")


def _address_body(form: Form) -> dict[str, Any]:
    return {"address": form.get("address").strip()}


@dataclass(frozen=True)
class Kind:
    """One kind of endpoint: its operations (`list_<slug>_endpoints`…), its pages, its form."""

    slug: str
    path: str
    title: str
    singular: str
    body: Callable[[Form], dict[str, Any]]
    blank: dict[str, Any]


HTTP = Kind(
    "http", "http_endpoints", "HTTP endpoints", "HTTP endpoint", _http_body,
    {"name": "", "url": "", "encoding": "BodyAsJSON", "format": "Hash", "strip_replies": False,
     "include_attachments": True, "timeout": 5},
)  # fmt: skip
SMTP = Kind(
    "smtp", "smtp_endpoints", "SMTP endpoints", "SMTP endpoint", _smtp_body,
    {"name": "", "hostname": "", "port": 25, "ssl_mode": "Auto"},
)  # fmt: skip
ADDRESS = Kind("address", "address_endpoints", "Address endpoints", "address endpoint", _address_body, {"address": ""})
KINDS = (HTTP, SMTP, ADDRESS)


def _as_form_values(kind: Kind, form: Form) -> dict[str, Any]:
    """What was submitted, to fill the form again (checkboxes as booleans)."""
    values: dict[str, Any] = {**kind.blank, **form.as_dict()}
    for name, default in kind.blank.items():
        if isinstance(default, bool):
            values[name] = form.checked(name)
    return values


class EndpointPage(Page):
    kind: Kind

    def _render_form(
        self,
        view: View,
        ctx: dict[str, Any],
        values: dict[str, Any],
        endpoint: dict[str, Any] | None = None,
        error: APIError | None = None,
        status: int = 200,
    ) -> None:
        view.render(
            "routing/endpoint_form.html",
            status=status,
            **ctx,
            tab="routing",
            subtab=self.kind.path,
            kind=self.kind,
            values=values,
            encodings=ENCODINGS,
            formats=FORMATS,
            ssl_modes=SSL_MODES,
            endpoint=endpoint,
            error=error,
        )


class EndpointList(EndpointPage):
    def get(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        found = view.call(f"list_{self.kind.slug}_endpoints", query={"cursor": view.query.get("cursor")},
                          org=org, server=server)  # fmt: skip
        view.render("routing/endpoints.html", **ctx, tab="routing", subtab=self.kind.path, kind=self.kind,
                    endpoints=found)  # fmt: skip


class NewEndpoint(EndpointPage):
    def get(self, view: View, org: str, server: str) -> None:
        self._render_form(view, server_context(view, org, server), dict(self.kind.blank))

    def post(self, view: View, org: str, server: str) -> None:
        ctx = server_context(view, org, server)
        created, error = view.submit(f"create_{self.kind.slug}_endpoint", self.kind.body(view.form),
                                     org=org, server=server)  # fmt: skip
        if error is not None:
            return self._render_form(view, ctx, _as_form_values(self.kind, view.form), error=error, status=422)
        view.redirect(f"{ctx['server_path']}/{self.kind.path}",
                      notice=f"The {self.kind.singular} {endpoint_label(created)} has been added.")  # fmt: skip


class EditEndpoint(EndpointPage):
    def get(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        endpoint = view.call(f"get_{self.kind.slug}_endpoint", org=org, server=server, uuid=uuid)
        self._render_form(view, ctx, endpoint, endpoint=endpoint)

    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        endpoint = view.call(f"get_{self.kind.slug}_endpoint", org=org, server=server, uuid=uuid)
        changed, error = view.submit(f"update_{self.kind.slug}_endpoint", self.kind.body(view.form),
                                     org=org, server=server, uuid=uuid)  # fmt: skip
        if error is not None:
            values = _as_form_values(self.kind, view.form)
            return self._render_form(view, ctx, values, endpoint=endpoint, error=error, status=422)
        view.redirect(f"{ctx['server_path']}/{self.kind.path}",
                      notice=f"The {self.kind.singular} {endpoint_label(changed)} has been saved.")  # fmt: skip


class DeleteEndpoint(EndpointPage):
    def post(self, view: View, org: str, server: str, uuid: str) -> None:
        ctx = server_context(view, org, server)
        endpoint = view.call(f"get_{self.kind.slug}_endpoint", org=org, server=server, uuid=uuid)
        view.call(f"delete_{self.kind.slug}_endpoint", org=org, server=server, uuid=uuid)
        view.redirect(f"{ctx['server_path']}/{self.kind.path}",
                      notice=f"The {self.kind.singular} {endpoint_label(endpoint)} has been deleted.")  # fmt: skip


def _pages(kind: Kind) -> list[tuple[str, type[Page]]]:
    """The four pages of one kind, as subclasses that know their kind."""
    base = f"/org/{{org}}/servers/{{server}}/{kind.path}"
    made = [
        (base, EndpointList),
        (f"{base}/new", NewEndpoint),
        (f"{base}/{{uuid}}/edit", EditEndpoint),
        (f"{base}/{{uuid}}/delete", DeleteEndpoint),
    ]
    return [(path, type(f"{page.__name__}{kind.slug.title()}", (page,), {"kind": kind})) for path, page in made]


ROUTES: list[tuple[str, type[Page]]] = [route for kind in KINDS for route in _pages(kind)]
