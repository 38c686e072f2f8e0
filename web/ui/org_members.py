"""An organization's members: who they are, their role and servers; admins add, change and remove them."""

from __future__ import annotations

from typing import Any

from web.api_v2.errors import APIError
from web.ui.context import organization_context
from web.ui.page import Page, View

ROLES = [("0", "Member"), ("1", "Administrator")]


def is_organization_admin(view: View, org: str) -> bool:
    """Whether the user may administer `org` (the API's `/me` says; global admins always may)."""
    if view.current_user.admin:
        return True
    me = view.call("get_me")
    return any(m["organization"] == org and m["admin"] for m in me["memberships"])


def require_organization_admin(view: View, org: str) -> None:
    """Pages whose forms only organization admins may send refuse others before showing them."""
    if not is_organization_admin(view, org):
        raise APIError("forbidden", "Only administrators of the organization can do this.")


def _access(view: View) -> dict[str, Any]:
    """Role and server access from the member form: every server, or the ticked ones."""
    servers: Any = "all" if view.form.get("access") != "chosen" else view.form.getlist("servers")
    return {"admin": view.form.get("admin") == "1", "servers": servers}


def _values(member: dict[str, Any]) -> dict[str, Any]:
    return {
        "admin": "1" if member["admin"] else "0",
        "access": "all" if member["all_servers"] else "chosen",
        "servers": member["servers"],
    }


def _form_values(view: View) -> dict[str, Any]:
    return {**view.form.as_dict(), "servers": view.form.getlist("servers")}


class Members(Page):
    """`/org/{org}/users`: the members, and the form adding an existing user by e-mail address."""

    def get(self, view: View, org: str) -> None:
        self._show(view, org, {"admin": "0", "access": "all", "servers": []}, None)

    def _show(self, view: View, org: str, values: dict[str, Any], error: APIError | None, status: int = 200) -> None:
        ctx = organization_context(view, org)
        members = view.call("list_members", query={"limit": 500}, org=org)["data"]
        servers = view.call("list_servers", query={"limit": 500}, org=org)["data"]
        view.render(
            "organizations/members.html",
            status=status,
            **ctx,
            tab="members",
            members=members,
            servers=servers,
            roles=ROLES,
            values=values,
            error=error,
        )

    def post(self, view: View, org: str) -> None:
        organization_context(view, org)
        email = view.form.get("email").strip()
        body = {"email": email, **_access(view)}
        try:
            added, error = view.submit("add_member", body, org=org)
        except APIError as refused:
            # The organization was found above: what is missing is the user (or a ticked server).
            if refused.code != "not_found":
                raise
            message = refused.message
            if message == "user not found":
                message = (
                    f"There is no user with the e-mail address {email}. A global administrator must create "
                    "their account (under Users) before they can be added here."
                )
            added, error = None, APIError("validation_failed", message)
        if error is not None:
            self._show(view, org, _form_values(view), error, 422)
            return
        view.redirect(f"/org/{org}/users", notice=f"{added['user']['email_address']} is now a member.")


class Member(Page):
    """`/org/{org}/users/{user}`: change one member's role and server access."""

    def get(self, view: View, org: str, user: str) -> None:
        member = view.call("get_member", org=org, user=user)
        self._show(view, org, member, _values(member), None)

    def _show(
        self,
        view: View,
        org: str,
        member: dict[str, Any],
        values: dict[str, Any],
        error: APIError | None,
        status: int = 200,
    ) -> None:
        ctx = organization_context(view, org)
        servers = view.call("list_servers", query={"limit": 500}, org=org)["data"]
        view.render(
            "organizations/member.html",
            status=status,
            **ctx,
            tab="members",
            member=member,
            servers=servers,
            roles=ROLES,
            values=values,
            error=error,
        )

    def post(self, view: View, org: str, user: str) -> None:
        member = view.call("get_member", org=org, user=user)
        try:
            _, error = view.submit("update_member", _access(view), org=org, user=user)
        except APIError as refused:
            # Taking away one's own admin role: say so beside the form rather than on an error page.
            if refused.code != "forbidden":
                raise
            self._show(view, org, member, _form_values(view), refused, 403)
            return
        if error is not None:
            self._show(view, org, member, _form_values(view), error, 422)
            return
        view.redirect(f"/org/{org}/users", notice=f"{member['user']['email_address']}'s access has been changed.")


class RemoveMember(Page):
    """`/org/{org}/users/{user}/delete`: the user leaves the organization (their account stays)."""

    def post(self, view: View, org: str, user: str) -> None:
        member = view.call("get_member", org=org, user=user)
        view.call("remove_member", org=org, user=user)
        view.redirect(f"/org/{org}/users", notice=f"{member['user']['email_address']} is no longer a member.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/org/{org}/users", Members),
    ("/org/{org}/users/{user}", Member),
    ("/org/{org}/users/{user}/delete", RemoveMember),
]
