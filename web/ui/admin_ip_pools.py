"""Global admin pages of IP pools: the list, new, edit and delete, and each pool's addresses."""

from __future__ import annotations

from typing import Any

from web.api_v2.errors import APIError
from web.ui.admin_users import all_pages, require_admin
from web.ui.page import Page, View


def _priority(view: View, body: dict[str, Any]) -> APIError | None:
    """The priority field as a number (the API checks its range)."""
    text = view.form.get("priority").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 3:
        return APIError(
            "validation_failed", "The priority must be a whole number from 0 to 100.", [{"field": "priority"}]
        )
    body["priority"] = int(text)
    return None


class Pools(Page):
    def get(self, view: View) -> None:
        require_admin(view)
        pools = all_pages(view, "list_ip_pools")
        counts = {p["uuid"]: len(all_pages(view, "list_ip_addresses", uuid=p["uuid"])) for p in pools}
        view.render("ip_pools/index.html", pools=pools, counts=counts)


class NewPool(Page):
    def get(self, view: View) -> None:
        require_admin(view)
        view.render("ip_pools/new.html", values={}, error=None)

    def post(self, view: View) -> None:
        require_admin(view)
        body: dict[str, Any] = {"name": view.form.get("name"), "default": view.form.checked("default")}
        permalink = view.form.optional("permalink")
        if permalink:
            body["permalink"] = permalink
        created, error = view.submit("add_ip_pool", body)
        if error is not None:
            return view.render("ip_pools/new.html", status=422, values=view.form.as_dict(), error=error)
        view.redirect(f"/ip_pools/{created['uuid']}", notice=f"The IP pool {created['name']} has been created.")


class Pool(Page):
    """A pool: its settings form, its addresses and the form to add one."""

    def get(self, view: View, uuid: str) -> None:
        require_admin(view)
        self.show(view, uuid)

    def show(
        self,
        view: View,
        uuid: str,
        status: int = 200,
        error: APIError | None = None,
        address_error: APIError | None = None,
    ) -> None:
        pool = view.call("get_ip_pool", uuid=uuid)
        view.render(
            "ip_pools/show.html",
            status=status,
            pool=pool,
            addresses=all_pages(view, "list_ip_addresses", uuid=uuid),
            values=view.form.as_dict() if error is not None else pool,
            error=error,
            address_values=view.form.as_dict() if address_error is not None else {},
            address_error=address_error,
        )

    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        body = {"name": view.form.get("name"), "default": view.form.checked("default")}
        changed, error = view.submit("update_ip_pool", body, uuid=uuid)
        if error is not None:
            return self.show(view, uuid, 422, error=error)
        view.redirect(f"/ip_pools/{uuid}", notice=f"The IP pool {changed['name']} has been saved.")


class DeletePool(Page):
    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        pool = view.call("get_ip_pool", uuid=uuid)
        view.call("delete_ip_pool", uuid=uuid)
        view.redirect("/ip_pools", notice=f"The IP pool {pool['name']} has been deleted.")


class AddAddress(Page):
    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        body: dict[str, Any] = {
            "ipv4": view.form.get("ipv4").strip(),
            "ipv6": view.form.optional("ipv6"),
            "hostname": view.form.get("hostname").strip(),
        }
        error = _priority(view, body)
        if error is None:
            created, error = view.submit("add_ip_address", body, uuid=uuid)
        if error is not None:
            return Pool(self.ui).show(view, uuid, 422, address_error=error)
        view.redirect(f"/ip_pools/{uuid}", notice=f"{created['ipv4']} has been added.")


class EditAddress(Page):
    def get(self, view: View, uuid: str, id: str) -> None:
        require_admin(view)
        self.show(view, uuid, id)

    def show(self, view: View, uuid: str, id: str, status: int = 200, error: APIError | None = None) -> None:
        pool = view.call("get_ip_pool", uuid=uuid)
        address = view.call("get_ip_address", uuid=uuid, id=id)
        values = view.form.as_dict() if error is not None else address
        view.render("ip_pools/address.html", status=status, pool=pool, address=address, values=values, error=error)

    def post(self, view: View, uuid: str, id: str) -> None:
        require_admin(view)
        body: dict[str, Any] = {"hostname": view.form.get("hostname").strip()}
        error = _priority(view, body)
        if error is None:
            changed, error = view.submit("update_ip_address", body, uuid=uuid, id=id)
        if error is not None:
            return self.show(view, uuid, id, 422, error)
        view.redirect(f"/ip_pools/{uuid}", notice=f"{changed['ipv4']} has been saved.")


class DeleteAddress(Page):
    def post(self, view: View, uuid: str, id: str) -> None:
        require_admin(view)
        address = view.call("get_ip_address", uuid=uuid, id=id)
        view.call("delete_ip_address", uuid=uuid, id=id)
        view.redirect(f"/ip_pools/{uuid}", notice=f"{address['ipv4']} has been removed from the pool.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/ip_pools", Pools),
    ("/ip_pools/new", NewPool),
    ("/ip_pools/{uuid}", Pool),
    ("/ip_pools/{uuid}/delete", DeletePool),
    ("/ip_pools/{uuid}/addresses", AddAddress),
    ("/ip_pools/{uuid}/addresses/{id}/edit", EditAddress),
    ("/ip_pools/{uuid}/addresses/{id}/delete", DeleteAddress),
]
