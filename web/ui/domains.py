"""Domains of a server or of an organization: the list, adding one, verifying it by DNS or by an
e-mailed code, the DNS records to publish with their check, and removing it."""

from __future__ import annotations

from typing import Any, ClassVar

from web.api_v2.errors import APIError
from web.ui.context import organization_context, server_context
from web.ui.page import Page, View

METHODS = [("DNS", "DNS: publish a TXT record"), ("Email", "E-mail: receive a code at an address of the domain")]
CHECKS = (("spf", "SPF"), ("dkim", "DKIM"), ("mx", "MX"), ("return_path", "Return path"))


class Owner:
    """Which owner the page is about: the operations' suffix, their path parameters and the layout."""

    def __init__(self, kind: str, view: View, params: dict[str, str]) -> None:
        self.kind = kind
        self.view = view
        self.params = {k: params[k] for k in (("org", "server") if kind == "server" else ("org",))}

    def context(self) -> dict[str, Any]:
        if self.kind == "server":
            ctx = server_context(self.view, self.params["org"], self.params["server"])
            base = ctx["server_path"]
            layout = "server_base.html"
        else:
            ctx = organization_context(self.view, self.params["org"])
            base = ctx["org_path"]
            layout = "org_base.html"
        return {**ctx, "tab": "domains", "layout": layout, "kind": self.kind, "domains_path": f"{base}/domains",
                "checks": CHECKS}  # fmt: skip

    def call(self, operation: str, body: Any = None, **extra: str) -> Any:
        return self.view.call(operation.format(kind=self.kind), body, None, **{**self.params, **extra})

    def submit(self, operation: str, body: Any = None, **extra: str) -> tuple[Any, APIError | None]:
        return self.view.submit(operation.format(kind=self.kind), body, None, **{**self.params, **extra})


class DomainPage(Page):
    kind: ClassVar[str] = "server"

    def owner(self, view: View, params: dict[str, str]) -> Owner:
        return Owner(self.kind, view, params)


class DomainList(DomainPage):
    def get(self, view: View, **params: str) -> None:
        owner = self.owner(view, params)
        ctx = owner.context()
        query = {"cursor": view.query.get("cursor")}
        page = view.call(f"list_{self.kind}_domains", query=query, **owner.params)
        view.render("domains/index.html", **ctx, page=page)


class NewDomain(DomainPage):
    def _show(self, view: View, owner: Owner, values: dict[str, Any], error: APIError | None = None,
              status: int = 200) -> None:  # fmt: skip
        view.render("domains/new.html", status=status, **owner.context(), values=values, error=error, methods=METHODS)

    def get(self, view: View, **params: str) -> None:
        self._show(view, self.owner(view, params), {"verification_method": "DNS", "verified": True})

    def post(self, view: View, **params: str) -> None:
        owner = self.owner(view, params)
        body: dict[str, Any] = {
            "name": view.form.get("name").strip(),
            "verification_method": view.form.get("verification_method") or "DNS",
        }
        # Global admins may skip verification, as Postal verifies their domains at once.
        if view.current_user.admin and view.form.checked("verified"):
            body["verified"] = True
        created, error = owner.submit("create_{kind}_domain", body)
        if error is not None:
            values = {**view.form.as_dict(), "verified": view.form.checked("verified")}
            return self._show(view, owner, values, error, 422)
        base = owner.context()["domains_path"]
        if created["verified"]:
            view.redirect(f"{base}/{created['uuid']}/setup", notice=f"{created['name']} has been added.")
        view.redirect(f"{base}/{created['uuid']}/verify", notice=f"{created['name']} has been added: now verify it.")


class Verify(DomainPage):
    """GET: how to verify. POST: check the TXT record, or the code the user typed in."""

    def _show(self, view: View, owner: Owner, uuid: str, error: APIError | None = None, status: int = 200,
              address: str = "") -> None:  # fmt: skip
        domain = owner.call("get_{kind}_domain", uuid=uuid)
        verification = owner.call("{kind}_domain_verification", uuid=uuid)
        view.render("domains/verify.html", status=status, **owner.context(), domain=domain,
                    verification=verification, error=error, address=address,
                    address_options=[(a, a) for a in verification["email_addresses"]])  # fmt: skip

    def get(self, view: View, uuid: str, **params: str) -> None:
        self._show(view, self.owner(view, params), uuid)

    def post(self, view: View, uuid: str, **params: str) -> None:
        owner = self.owner(view, params)
        base = owner.context()["domains_path"]
        code = view.form.optional("code")
        if view.form.has("code") and code is None:
            blank = APIError("validation_failed", "Enter the code from the e-mail.", [{"field": "code",
                             "message": "can't be blank"}])  # fmt: skip
            return self._show(view, owner, uuid, blank, 422)
        domain, error = owner.submit("verify_{kind}_domain", {"code": code} if code is not None else {}, uuid=uuid)
        if error is not None:
            return self._show(view, owner, uuid, error, 422)
        if domain["verified"]:
            view.redirect(f"{base}/{uuid}/setup", notice=f"{domain['name']} has been verified.")
        if code is not None:
            wrong = APIError("validation_failed", "That code is not right. Check the e-mail and try again.",
                             [{"field": "code", "message": "does not match the code sent"}])  # fmt: skip
            return self._show(view, owner, uuid, wrong, 422)
        view.redirect(
            f"{base}/{uuid}/verify",
            alert="The TXT record was not found. DNS changes can take a while to appear; try again shortly.",
        )


class SendCode(DomainPage):
    def post(self, view: View, uuid: str, **params: str) -> None:
        owner = self.owner(view, params)
        address = view.form.get("address")
        _, error = owner.submit("send_{kind}_domain_verification_code", {"address": address}, uuid=uuid)
        if error is not None:
            return Verify(self.ui)._show(view, owner, uuid, error, 422, address)
        base = owner.context()["domains_path"]
        view.redirect(f"{base}/{uuid}/verify", notice=f"A code has been sent to {address}. Type it in below.")


class Setup(DomainPage):
    def get(self, view: View, uuid: str, **params: str) -> None:
        owner = self.owner(view, params)
        domain = owner.call("get_{kind}_domain", uuid=uuid)
        records = owner.call("{kind}_domain_dns_records", uuid=uuid)["records"]
        view.render("domains/setup.html", **owner.context(), domain=domain, records=records)


class Check(DomainPage):
    def post(self, view: View, uuid: str, **params: str) -> None:
        owner = self.owner(view, params)
        status = owner.call("check_{kind}_domain", uuid=uuid)
        base = owner.context()["domains_path"]
        if status["dns_ok"]:
            view.redirect(f"{base}/{uuid}/setup", notice=f"The records of {status['domain']} are all right.")
        view.redirect(f"{base}/{uuid}/setup", alert="Some records are missing or wrong: see below.")


class Delete(DomainPage):
    def post(self, view: View, uuid: str, **params: str) -> None:
        owner = self.owner(view, params)
        domain = owner.call("get_{kind}_domain", uuid=uuid)
        owner.call("delete_{kind}_domain", uuid=uuid)
        view.redirect(owner.context()["domains_path"], notice=f"{domain['name']} has been removed.")


def _routes(prefix: str, kind: str) -> list[tuple[str, type[Page]]]:
    pages: list[tuple[str, type[DomainPage]]] = [
        ("/domains", DomainList),
        ("/domains/new", NewDomain),
        ("/domains/{uuid}/verify", Verify),
        ("/domains/{uuid}/verification_code", SendCode),
        ("/domains/{uuid}/setup", Setup),
        ("/domains/{uuid}/check", Check),
        ("/domains/{uuid}/delete", Delete),
    ]
    return [(prefix + path, type(f"{kind.title()}{page.__name__}", (page,), {"kind": kind})) for path, page in pages]


ROUTES: list[tuple[str, type[Page]]] = _routes("/org/{org}/servers/{server}", "server") + _routes(
    "/org/{org}", "organization"
)
