"""The start page: the organizations the user can see (Postal's root page)."""

from __future__ import annotations

from web.ui.page import Page, View


class Organizations(Page):
    def get(self, view: View) -> None:
        organizations = view.call("list_organizations", query={"limit": 500})["data"]
        view.render("organizations/index.html", organizations=organizations)


ROUTES = [("/", Organizations)]
