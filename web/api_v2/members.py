"""`/organizations/{org}/members`: who may use an organization, managed by its admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.tenancy.memberships import ALL_SERVERS, find_user, membership_server_ids, parse_servers, set_membership
from models.organization import OrganizationUser
from models.server import Server
from models.user import User
from web.api_v2.call import Call
from web.api_v2.errors import forbidden, not_found
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, integer, obj, ref, string

ops = Operations("members")
SERVERS = {
    "anyOf": [
        {"type": "string", "const": ALL_SERVERS},
        array(string(min_length=1, max_length=255), max_items=1000),
    ],
    "description": '"all" for every server (now and later), or a list of server permalinks.',
}
SCHEMAS = {
    "User": obj(
        {
            "id": integer(),
            "uuid": string(),
            "email_address": string(),
            "first_name": string(),
            "last_name": string(),
            "admin": boolean(),
            "created_at": {"type": ["string", "null"]},
        },
        required=("id", "uuid", "email_address", "admin"),
    ),
    "Membership": obj(
        {
            "user": ref("User"),
            "admin": boolean(),
            "all_servers": boolean(),
            "servers": array(string()),
            "created_at": {"type": ["string", "null"]},
        },
        required=("user", "admin", "all_servers", "servers"),
    ),
}
MEMBERSHIP = ref("Membership")


def _present(call: Call, membership: OrganizationUser, user: User) -> dict[str, Any]:
    ids = membership_server_ids(call.session, membership)
    permalinks = list(call.session.scalars(select(Server.permalink).where(Server.id.in_(ids)).order_by(Server.id)))
    return presenters.membership(membership, user, permalinks)


def _servers(call: Call, org: Any) -> Any:
    spec = call.field("servers", ALL_SERVERS)
    if spec == ALL_SERVERS:
        return ALL_SERVERS
    return parse_servers(call.session, org, spec) or []


def _member(call: Call, org: Any) -> tuple[OrganizationUser, User]:
    row = call.session.execute(
        select(OrganizationUser, User)
        .join(User, User.id == OrganizationUser.user_id)
        .where(
            OrganizationUser.organization_id == org.id,
            OrganizationUser.user_type == "User",
            User.uuid == call.params["user"],
        )
    ).first()
    if row is None:
        raise not_found("member")
    return row[0], row[1]


@ops.get("/organizations/{org}/members", "List members", response=MEMBERSHIP, paginated=True)
def list_members(call: Call) -> dict[str, Any]:
    org = call.organization(admin=True)

    def present(membership: OrganizationUser) -> dict[str, Any]:
        user = call.session.get(User, membership.user_id)
        assert user is not None
        return _present(call, membership, user)

    query = select(OrganizationUser).where(
        OrganizationUser.organization_id == org.id, OrganizationUser.user_type == "User"
    )
    return paginate(call.session, query, OrganizationUser.id, call.limit, call.cursor, present)


@ops.post(
    "/organizations/{org}/members",
    "Add a member",
    status=201,
    response=MEMBERSHIP,
    body=obj({"email": string(min_length=1), "admin": boolean(), "servers": SERVERS}, required=("email",)),
)
def add_member(call: Call) -> dict[str, Any]:
    """An existing user (by e-mail address) joins, or has their membership set to what is given."""
    org = call.organization(admin=True)
    user = find_user(call.session, call.body["email"])
    membership = set_membership(call.session, org, user, bool(call.field("admin", False)), _servers(call, org))
    return _present(call, membership, user)


@ops.get("/organizations/{org}/members/{user}", "Get a member", response=MEMBERSHIP)
def get_member(call: Call) -> dict[str, Any]:
    org = call.organization(admin=True)
    membership, user = _member(call, org)
    return _present(call, membership, user)


@ops.patch(
    "/organizations/{org}/members/{user}",
    "Change a member's role or servers",
    response=MEMBERSHIP,
    body=obj({"admin": boolean(), "servers": SERVERS}),
)
def update_member(call: Call) -> dict[str, Any]:
    org = call.organization(admin=True)
    membership, user = _member(call, org)
    if "admin" in call.body and user.id == call.user.id and not call.user.admin and not call.body["admin"]:
        raise forbidden("you cannot take away your own admin role")
    servers: Any = _servers(call, org) if "servers" in call.body else None
    if servers is None:
        servers = ALL_SERVERS if membership.all_servers else _current_servers(call, membership)
    membership = set_membership(call.session, org, user, call.field("admin"), servers)
    return _present(call, membership, user)


def _current_servers(call: Call, membership: OrganizationUser) -> list[Server]:
    ids = membership_server_ids(call.session, membership)
    return list(call.session.scalars(select(Server).where(Server.id.in_(ids))))


@ops.delete("/organizations/{org}/members/{user}", "Remove a member")
def remove_member(call: Call) -> None:
    org = call.organization(admin=True)
    membership, _ = _member(call, org)
    call.session.delete(membership)
