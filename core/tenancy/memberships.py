"""Members of organizations: adding a user (as admin or not, to all or some servers), changing, removing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationError
from models.organization import Organization, OrganizationUser, OrganizationUserServer
from models.server import Server
from models.user import User

ALL_SERVERS = "all"


def find_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(func.lower(User.email_address) == email.strip().lower()))
    if user is None:
        raise NotFound("user", email)
    return user


def parse_servers(session: Session, organization: Organization, spec: str | Sequence[str]) -> list[Server] | None:
    """`all` (None: every server, now and later) or server permalinks, given as a list or `a,b`."""
    names = [spec] if isinstance(spec, str) else list(spec)
    names = [part.strip() for name in names for part in name.split(",") if part.strip()]
    if names == [ALL_SERVERS]:
        return None
    servers = []
    for name in dict.fromkeys(names):
        server = session.scalar(
            select(Server).where(
                Server.organization_id == organization.id, Server.permalink == name, Server.deleted_at.is_(None)
            )
        )
        if server is None:
            raise NotFound("server", f"{organization.permalink}/{name}")
        servers.append(server)
    return servers


def find_membership(session: Session, organization: Organization, user: User) -> OrganizationUser:
    membership = session.scalar(
        select(OrganizationUser).where(
            OrganizationUser.organization_id == organization.id,
            OrganizationUser.user_id == user.id,
            OrganizationUser.user_type == "User",
        )
    )
    if membership is None:
        raise NotFound("member", user.email_address)
    return membership


def set_membership(
    session: Session,
    organization: Organization,
    user: User,
    admin: bool | None = None,
    servers: list[Server] | str | None = ALL_SERVERS,
) -> OrganizationUser:
    """Make `user` a member of `organization`, or change their membership.

    `admin=None` keeps the current flag (False for a new member); `servers` is None (or `all`) for
    every server, a list for only those."""
    membership = session.scalar(
        select(OrganizationUser).where(
            OrganizationUser.organization_id == organization.id,
            OrganizationUser.user_id == user.id,
            OrganizationUser.user_type == "User",
        )
    )
    if membership is None:
        membership = OrganizationUser(organization_id=organization.id, user_id=user.id, user_type="User")
        membership.admin = bool(admin)
        session.add(membership)
        session.flush()
    elif admin is not None:
        membership.admin = admin
    if isinstance(servers, str):
        if servers != ALL_SERVERS:
            raise ValidationError("servers", f"must be {ALL_SERVERS!r} or a list of servers")
        servers = None
    membership.all_servers = servers is None
    session.execute(delete(OrganizationUserServer).where(OrganizationUserServer.organization_user_id == membership.id))
    for server in servers or []:
        if server.organization_id != organization.id:
            raise ValidationError("servers", f"{server.permalink} belongs to another organization")
        session.add(OrganizationUserServer(organization_user_id=membership.id, server_id=server.id))
    session.flush()
    return membership


def membership_server_ids(session: Session, membership: OrganizationUser) -> list[int]:
    return list(
        session.scalars(
            select(OrganizationUserServer.server_id)
            .where(OrganizationUserServer.organization_user_id == membership.id)
            .order_by(OrganizationUserServer.server_id)
        )
    )


def remove_membership(session: Session, membership: OrganizationUser) -> None:
    session.delete(membership)
    session.flush()
