"""Organizations: creating them and finding them by permalink."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationError
from core.tenancy.permalinks import choose_permalink
from models.ip_pool import IPPool, OrganizationIPPool
from models.organization import RESERVED_ORGANIZATION_PERMALINKS, Organization
from models.user import User


def create_organization(
    session: Session,
    name: str,
    permalink: str | None = None,
    owner: User | None = None,
    time_zone: str = "UTC",
) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError("name", "can't be blank")

    def taken(candidate: str) -> bool:
        return session.scalar(select(Organization.id).where(Organization.permalink == candidate)) is not None

    org = Organization(
        name=name,
        permalink=choose_permalink(name, permalink, RESERVED_ORGANIZATION_PERMALINKS, taken),
        owner_id=owner.id if owner else None,
        time_zone=time_zone,
    )
    # Postal attaches the IP pool flagged `default` to every new organization.
    default_pool = session.scalar(select(IPPool).where(IPPool.default.is_(True)).limit(1))
    if default_pool is not None:
        org.ip_pool_id = default_pool.id
    session.add(org)
    session.flush()
    if default_pool is not None:
        session.add(OrganizationIPPool(organization_id=org.id, ip_pool_id=default_pool.id))
    return org


def find_organization(session: Session, permalink: str) -> Organization:
    org = session.scalar(
        select(Organization).where(Organization.permalink == permalink, Organization.deleted_at.is_(None))
    )
    if org is None:
        raise NotFound("organization", permalink)
    return org
