"""Who may see and change what: global admins everything, organization admins their organization,
members the servers they were given (all of the organization's, or some)."""

from __future__ import annotations

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from models.organization import Organization, OrganizationUser, OrganizationUserServer
from models.server import Server
from models.user import User


def membership(session: Session, user: User, organization_id: int) -> OrganizationUser | None:
    return session.scalar(
        select(OrganizationUser).where(
            OrganizationUser.organization_id == organization_id,
            OrganizationUser.user_id == user.id,
            OrganizationUser.user_type == "User",
        )
    )


def can_view_organization(session: Session, user: User, organization: Organization) -> bool:
    return user.admin or membership(session, user, organization.id) is not None


def can_admin_organization(session: Session, user: User, organization: Organization) -> bool:
    if user.admin:
        return True
    member = membership(session, user, organization.id)
    return member is not None and member.admin


def can_use_server(session: Session, user: User, server: Server) -> bool:
    """Whether `user` may see and manage what is inside `server` (domains, credentials, messages…)."""
    if user.admin:
        return True
    member = membership(session, user, server.organization_id)
    if member is None:
        return False
    if member.admin or member.all_servers:
        return True
    granted = session.scalar(
        select(OrganizationUserServer.id).where(
            OrganizationUserServer.organization_user_id == member.id, OrganizationUserServer.server_id == server.id
        )
    )
    return granted is not None


def visible_organizations(user: User) -> Select[Organization]:
    """Organizations `user` can see, not deleted."""
    query = select(Organization).where(Organization.deleted_at.is_(None))
    if user.admin:
        return query
    return query.where(
        exists().where(
            OrganizationUser.organization_id == Organization.id,
            OrganizationUser.user_id == user.id,
            OrganizationUser.user_type == "User",
        )
    )


def visible_servers(session: Session, user: User, organization: Organization) -> Select[Server]:
    """Servers of `organization` that `user` can use, not deleted."""
    query = select(Server).where(Server.organization_id == organization.id, Server.deleted_at.is_(None))
    if user.admin:
        return query
    member = membership(session, user, organization.id)
    if member is None:
        return query.where(Server.id.is_(None))
    if member.admin or member.all_servers:
        return query
    return query.where(
        exists().where(
            OrganizationUserServer.organization_user_id == member.id, OrganizationUserServer.server_id == Server.id
        )
    )
