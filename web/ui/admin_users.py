"""Global admin pages of users: the list, new and edit forms, organization memberships, invitations,
and the public page where an invitee accepts one."""

from __future__ import annotations

from typing import Any

from models.user import User
from web.api_v2.errors import APIError, forbidden
from web.ui.page import Page, View

ROLES = [("member", "Member"), ("admin", "Admin")]


def require_admin(view: View) -> None:
    """The admin pages answer others as the API does for global-admin operations: 403."""
    if not view.current_user.admin:
        raise forbidden("only global administrators can do this")


def all_pages(view: View, operation_id: str, **params: str) -> list[dict[str, Any]]:
    """Every item of a paginated operation, a full page at a time."""
    limit = view.ui.runtime.config.api.max_page_size
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = view.call(operation_id, query={"limit": limit, "cursor": cursor}, **params)
        items.extend(page["data"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def memberships_by_user(view: View) -> dict[str, list[dict[str, Any]]]:
    """Each user's memberships (by user uuid), with the organization's permalink and name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for org in all_pages(view, "list_organizations"):
        for member in all_pages(view, "list_members", org=org["permalink"]):
            found.setdefault(member["user"]["uuid"], []).append({**member, "org": org})
    return found


def _user_body(view: View) -> dict[str, Any]:
    """The user form's fields; an empty password is left out (on edit: unchanged)."""
    body: dict[str, Any] = {
        "email": view.form.get("email").strip(),
        "first_name": view.form.get("first_name"),
        "last_name": view.form.get("last_name"),
        "admin": view.form.checked("admin"),
    }
    password = view.form.get("password")
    if password:
        body["password"] = password
    return body


class Users(Page):
    def get(self, view: View) -> None:
        require_admin(view)
        invitations = all_pages(view, "list_invitations")
        users = view.call("list_users", query={"cursor": view.query.get("cursor")})
        view.render("users/index.html", users=users, invitations=invitations, memberships=memberships_by_user(view))


class NewUser(Page):
    def get(self, view: View) -> None:
        require_admin(view)
        view.render("users/new.html", values={}, error=None)

    def post(self, view: View) -> None:
        require_admin(view)
        created, error = view.submit("add_user", _user_body(view))
        if error is not None:
            return view.render("users/new.html", status=422, values=view.form.as_dict(), error=error)
        view.redirect(f"/users/{created['uuid']}/edit", notice=f"{created['email_address']} has been created.")


class EditUser(Page):
    def get(self, view: View, uuid: str) -> None:
        require_admin(view)
        self.show(view, uuid)

    def show(self, view: View, uuid: str, status: int = 200, error: APIError | None = None, **extra: Any) -> None:
        found = view.call("get_user", uuid=uuid)
        organizations = all_pages(view, "list_organizations")
        memberships = memberships_by_user(view).get(uuid, [])
        for membership in memberships:
            membership["all_org_servers"] = all_pages(view, "list_servers", org=membership["org"]["permalink"])
        member_of = {m["org"]["permalink"] for m in memberships}
        view.render(
            "users/edit.html",
            status=status,
            subject=found,
            values=view.form.as_dict() if error is not None else found,
            error=error,
            memberships=memberships,
            other_organizations=[o for o in organizations if o["permalink"] not in member_of],
            membership_error=extra.get("membership_error"),
        )

    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        changed, error = view.submit("update_user", _user_body(view), uuid=uuid)
        if error is not None:
            return self.show(view, uuid, 422, error)
        view.redirect(f"/users/{uuid}/edit", notice=f"{changed['email_address']} has been saved.")


class DeleteUser(Page):
    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        found = view.call("get_user", uuid=uuid)
        view.call("delete_user", uuid=uuid)
        view.redirect("/users", notice=f"{found['email_address']} has been deleted.")


class AddMembership(Page):
    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        found = view.call("get_user", uuid=uuid)
        org = view.form.get("organization")
        if not org:
            missing = APIError("validation_failed", "Choose an organization.", [{"field": "organization"}])
            return EditUser(self.ui).show(view, uuid, 422, membership_error=missing)
        # "Chosen servers" starts with none: they are ticked on the membership afterwards.
        servers: Any = "all" if view.form.get("access", "all") == "all" else []
        body = {"email": found["email_address"], "admin": view.form.get("role") == "admin", "servers": servers}
        _, error = view.submit("add_member", body, org=org)
        if error is not None:
            return EditUser(self.ui).show(view, uuid, 422, membership_error=error)
        name = view.call("get_organization", org=org)["name"]
        hint = "" if servers == "all" else " Tick the servers they may use."
        view.redirect(f"/users/{uuid}/edit", notice=f"Added to {name}.{hint}")


class ChangeMembership(Page):
    def post(self, view: View, uuid: str, org: str) -> None:
        require_admin(view)
        servers: Any = "all" if view.form.get("access") == "all" else view.form.getlist("servers")
        body = {"admin": view.form.get("role") == "admin", "servers": servers}
        _, error = view.submit("update_member", body, org=org, user=uuid)
        if error is not None:
            return EditUser(self.ui).show(view, uuid, 422, membership_error=error)
        name = view.call("get_organization", org=org)["name"]
        view.redirect(f"/users/{uuid}/edit", notice=f"The membership of {name} has been saved.")


class RemoveMembership(Page):
    def post(self, view: View, uuid: str, org: str) -> None:
        require_admin(view)
        name = view.call("get_organization", org=org)["name"]
        view.call("remove_member", org=org, user=uuid)
        view.redirect(f"/users/{uuid}/edit", notice=f"Removed from {name}.")


# -- invitations --------------------------------------------------------------------------------


class Invite(Page):
    def get(self, view: View) -> None:
        require_admin(view)
        self.show(view, {}, None)

    def show(self, view: View, values: dict[str, Any], error: APIError | None, status: int = 200) -> None:
        organizations = all_pages(view, "list_organizations")
        options = [("", "No organization")] + [(o["permalink"], o["name"]) for o in organizations]
        view.render("users/invite.html", status=status, values=values, error=error, organizations=options)

    def post(self, view: View) -> None:
        require_admin(view)
        org = view.form.optional("organization")
        body = {"email": view.form.get("email").strip(), "organization": org, "admin": view.form.get("role") == "admin"}
        created, error = view.submit("add_invitation", body)
        if error is not None:
            return self.show(view, view.form.as_dict(), error, 422)
        if created["email_sent"]:
            view.redirect("/users", notice=f"An invitation has been e-mailed to {created['email_address']}.")
        # The link is in this answer only: it is shown once, here, rather than passed in a redirect.
        view.render("users/invited.html", invitation=created)


class DeleteInvitation(Page):
    def post(self, view: View, uuid: str) -> None:
        require_admin(view)
        view.call("delete_invitation", uuid=uuid)
        view.redirect("/users", notice="The invitation has been withdrawn; its link no longer works.")


class AcceptInvitation(Page):
    """The invitation link: anyone holding it may make the account it offers."""

    public = True

    def get(self, view: View, token: str) -> None:
        offer = self._offer(view, token)
        if offer is not None:
            view.render("users/accept.html", offer=offer, token=token, values={}, error=None)

    def _offer(self, view: View, token: str) -> dict[str, Any] | None:
        try:
            offer: dict[str, Any] = view.call("get_invitation_offer", query={"token": token})
            return offer
        except APIError as error:
            if error.code != "not_found":
                raise
        view.render("users/invite_invalid.html", status=404)
        return None

    def post(self, view: View, token: str) -> None:
        offer = self._offer(view, token)
        if offer is None:
            return
        password = view.form.get("password")
        values = {k: v for k, v in view.form.as_dict().items() if "password" not in k}
        if password != view.form.get("password_confirmation"):
            mismatch = APIError(
                "validation_failed",
                "The passwords do not match.",
                [{"field": "password_confirmation", "message": "must be the same as the password"}],
            )
            return view.render("users/accept.html", status=422, offer=offer, token=token, values=values, error=mismatch)
        names = {"first_name": view.form.get("first_name"), "last_name": view.form.get("last_name")}
        created, error = view.submit("accept_invitation_token", {**names, "token": token, "password": password})
        if error is not None:
            return view.render("users/accept.html", status=422, offer=offer, token=token, values=values, error=error)
        user = User(
            id=created["id"],
            uuid=created["uuid"],
            email_address=created["email_address"],
            first_name=created["first_name"],
            last_name=created["last_name"],
            admin=created["admin"],
        )
        view.start_session(user, "password")
        view.redirect("/", notice=f"Welcome, {user.name or user.email_address}: your account is ready.")


ROUTES: list[tuple[str, type[Page]]] = [
    ("/users", Users),
    ("/users/new", NewUser),
    ("/users/invite", Invite),
    ("/users/invitations/{uuid}/delete", DeleteInvitation),
    ("/users/{uuid}/edit", EditUser),
    ("/users/{uuid}/delete", DeleteUser),
    ("/users/{uuid}/organizations", AddMembership),
    ("/users/{uuid}/organizations/{org}", ChangeMembership),
    ("/users/{uuid}/organizations/{org}/delete", RemoveMembership),
    ("/invite/{token}", AcceptInvitation),
]
