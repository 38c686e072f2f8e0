"""What some objects belong to: an organization or one of its servers (domains, IP pool rules).
The same operations are declared under both paths, each with a function finding the owner."""

from __future__ import annotations

from collections.abc import Callable

from models.enums import OwnerType
from models.organization import Organization
from models.server import Server
from web.api_v2.call import Call

Owner = Organization | Server
OwnerOf = Callable[[Call, bool], Owner]


def organization_owner(call: Call, write: bool) -> Owner:
    """Objects of an organization: members see them, organization admins change them."""
    return call.organization(admin=write)


def server_owner(call: Call, write: bool) -> Owner:
    """Objects of a server: members with access to it see and change them."""
    return call.server()


def owner_type(owner: Owner) -> OwnerType:
    return OwnerType.SERVER if isinstance(owner, Server) else OwnerType.ORGANIZATION
