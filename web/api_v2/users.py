"""`/users` (global administrators) and `/me`: the token's user, their memberships and their tokens.

Passwords are write-only: answers never carry them, nor their digests. A token is answered once,
when it is made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.errors import ValidationError
from core.tenancy.api_tokens import create_token, revoke_token, tokens_of
from core.tenancy.memberships import membership_server_ids
from core.tenancy.users import check_password, create_user, delete_user, update_user
from models.api_token import APIToken
from models.organization import Organization, OrganizationUser
from models.server import Server
from models.user import User
from web.api_v2.call import Call
from web.api_v2.errors import forbidden, not_found
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, integer, nullable, obj, ref, string

ops = Operations("users")
USER = ref("User")  # declared with the members, who are users too
NAME = string(max_length=255)
PASSWORD = string(min_length=1, max_length=1024, description="At least 8 characters, at most 1,024 bytes.")
TOKEN_FIELDS = {
    "id": integer(),
    "uuid": string(),
    "name": string(),
    "user_id": integer(),
    "last_used_at": nullable(string()),
    "expires_at": nullable(string()),
    "created_at": nullable(string()),
}
SCHEMAS = {
    "Me": obj(
        {
            "user": USER,
            "memberships": array(
                obj(
                    {
                        "organization": string(),
                        "organization_name": string(),
                        "admin": boolean(),
                        "all_servers": boolean(),
                        "servers": array(string()),
                    },
                    required=("organization", "organization_name", "admin", "all_servers", "servers"),
                )
            ),
            # Whether the user has a password to log in with (linked OIDC accounts have none), and OIDC.
            "local_login": boolean(),
            "oidc_linked": boolean(),
        },
        required=("user", "memberships", "local_login", "oidc_linked"),
    ),
    "APIToken": obj(TOKEN_FIELDS, required=("id", "uuid", "name", "last_used_at", "created_at")),
    "NewAPIToken": obj(
        {**TOKEN_FIELDS, "token": string(description="The token itself; shown only in this answer.")},
        required=("id", "uuid", "name", "last_used_at", "created_at", "token"),
    ),
}


def _admin_only(call: Call) -> None:
    """Other users are told the paths do not exist, as for anything they cannot see."""
    if not call.user.admin:
        raise not_found("resource")


def _user(call: Call) -> User:
    _admin_only(call)
    user = call.session.scalar(select(User).where(User.uuid == call.params["uuid"]))
    if user is None:
        raise not_found("user")
    return user


def _name(field: str, value: str) -> str:
    """Postal requires both names."""
    if not value.strip():
        raise ValidationError(field, "can't be blank")
    if "\n" in value or "\r" in value:
        raise ValidationError(field, "must be one line")
    return value.strip()


def _token(row: APIToken) -> dict[str, Any]:
    return {"id": row.id, **presenters.api_token(row)}


# -- /users -------------------------------------------------------------------------------------


@ops.get("/users", "List users", response=USER, paginated=True)
def list_users(call: Call) -> dict[str, Any]:
    """Global admins only."""
    _admin_only(call)
    return paginate(call.session, select(User), User.id, call.limit, call.cursor, presenters.user)


@ops.post(
    "/users",
    "Create a user",
    status=201,
    response=USER,
    body=obj(
        {
            "email": string(min_length=1),
            "first_name": NAME,
            "last_name": NAME,
            "password": PASSWORD,
            "admin": boolean(),
        },
        required=("email", "first_name", "last_name"),
    ),
    description="Global admins only. Without a password the user cannot log in until one is set.",
)
def add_user(call: Call) -> dict[str, Any]:
    _admin_only(call)
    user = create_user(
        call.session,
        call.body["email"],
        call.field("password"),
        first_name=_name("first_name", call.body["first_name"]),
        last_name=_name("last_name", call.body["last_name"]),
        admin=bool(call.field("admin", False)),
    )
    return presenters.user(user)


@ops.get("/users/{uuid}", "Get a user", response=USER)
def get_user(call: Call) -> dict[str, Any]:
    return presenters.user(_user(call))


@ops.patch(
    "/users/{uuid}",
    "Change a user",
    response=USER,
    body=obj(
        {"email": string(min_length=1), "first_name": NAME, "last_name": NAME, "password": PASSWORD, "admin": boolean()}
    ),
    operation_id="update_user",
)
def change_user(call: Call) -> dict[str, Any]:
    """Global admins; nobody can take away their own admin flag."""
    user = _user(call)
    if user.id == call.user.id and call.field("admin") is False:
        raise forbidden("you cannot take away your own admin flag")
    first, last = call.field("first_name"), call.field("last_name")
    update_user(
        call.session,
        user,
        email=call.field("email"),
        first_name=_name("first_name", first) if first is not None else None,
        last_name=_name("last_name", last) if last is not None else None,
        password=call.field("password"),
        admin=call.field("admin"),
    )
    return presenters.user(user)


@ops.delete("/users/{uuid}", "Delete a user", operation_id="delete_user")
def remove_user(call: Call) -> None:
    """Global admins, not themselves. Their memberships and tokens go too; organizations they own stay."""
    user = _user(call)
    if user.id == call.user.id:
        raise forbidden("you cannot delete yourself")
    delete_user(call.session, user)


# -- /me ----------------------------------------------------------------------------------------


@ops.get("/me", "The token's user and their memberships", response=ref("Me"))
def get_me(call: Call) -> dict[str, Any]:
    rows = call.session.execute(
        select(OrganizationUser, Organization)
        .join(Organization, Organization.id == OrganizationUser.organization_id)
        .where(
            OrganizationUser.user_id == call.user.id,
            OrganizationUser.user_type == "User",
            Organization.deleted_at.is_(None),
        )
        .order_by(Organization.id)
    ).all()
    memberships = []
    for membership, org in rows:
        ids = membership_server_ids(call.session, membership)
        servers = call.session.scalars(
            select(Server.permalink).where(Server.id.in_(ids), Server.deleted_at.is_(None)).order_by(Server.id)
        )
        memberships.append(
            {
                "organization": org.permalink,
                "organization_name": org.name,
                "admin": membership.admin,
                "all_servers": membership.all_servers,
                "servers": [] if membership.all_servers else list(servers),
            }
        )
    return {
        "user": presenters.user(call.user),
        "memberships": memberships,
        "local_login": call.user.password_digest is not None,
        "oidc_linked": call.user.oidc_uid is not None,
    }


@ops.patch(
    "/me",
    "Change my name, e-mail address or password",
    response=USER,
    body=obj(
        {
            "first_name": NAME,
            "last_name": NAME,
            "email": string(min_length=1),
            "password": PASSWORD,
            "current_password": string(
                max_length=1024, description="Required to change the e-mail address or password."
            ),
        }
    ),
    operation_id="update_me",
)
def change_me(call: Call) -> dict[str, Any]:
    """A new e-mail address or password needs the current password, so that a session or token
    left open somewhere cannot take the account over."""
    user = call.user
    email, password = call.field("email"), call.field("password")
    changes_email = email is not None and email.strip().lower() != user.email_address.lower()
    if changes_email or password is not None:
        current = call.field("current_password")
        if user.password_digest is None:
            raise ValidationError(
                "current_password",
                "cannot be checked: this account has no password (set one with the password reset link of the "
                "login page)",
            )
        if not current:
            raise ValidationError("current_password", "is required to change the e-mail address or password")
        if not check_password(user, current):
            raise ValidationError("current_password", "is not your current password")
    first, last = call.field("first_name"), call.field("last_name")
    update_user(
        call.session,
        user,
        email=email if changes_email else None,
        first_name=_name("first_name", first) if first is not None else None,
        last_name=_name("last_name", last) if last is not None else None,
        password=password,
    )
    return presenters.user(user)


@ops.get("/me/tokens", "List my API tokens", response=ref("APIToken"), paginated=True)
def list_my_tokens(call: Call) -> dict[str, Any]:
    """The tokens themselves are never answered again: only their names and use."""
    return paginate(call.session, tokens_of(call.user), APIToken.id, call.limit, call.cursor, _token)


@ops.post(
    "/me/tokens",
    "Make an API token",
    status=201,
    response=ref("NewAPIToken"),
    body=obj({"name": string(min_length=1)}),
    description="The answer is the only one that shows the token; keep it then.",
)
def create_my_token(call: Call) -> dict[str, Any]:
    row, token = create_token(call.session, call.user, call.field("name"))
    return {**_token(row), "token": token}


@ops.delete("/me/tokens/{uuid}", "Revoke an API token")
def revoke_my_token(call: Call) -> None:
    """Requests with it are refused from now on; revoking the token of this request is allowed."""
    revoke_token(call.session, call.user, call.params["uuid"])
