"""Mail servers: creating one (with its message database) and finding it by `org/server`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Config
from core.errors import NotFound, ValidationError
from core.message_db import MessageDatabases
from core.tenancy.organizations import find_organization
from core.tenancy.permalinks import choose_permalink
from core.tokens import server_token
from models.enums import ServerMode
from models.organization import Organization
from models.server import RESERVED_SERVER_PERMALINKS, Server


def create_server(
    session: Session,
    config: Config,
    message_dbs: MessageDatabases,
    organization: Organization,
    name: str,
    permalink: str | None = None,
    mode: ServerMode = ServerMode.LIVE,
) -> Server:
    """Create the server row and its message database.

    The database is created before the caller commits; if the commit then fails the caller's
    transaction rolls back and an empty database is left behind, which `postal upgrade` reuses.
    """
    name = name.strip()
    if not name:
        raise ValidationError("name", "can't be blank")
    if session.scalar(select(Server.id).where(Server.organization_id == organization.id, Server.name == name)):
        raise ValidationError("name", f"{name!r} has already been taken in {organization.permalink}")

    def taken(candidate: str) -> bool:
        return (
            session.scalar(
                select(Server.id).where(Server.organization_id == organization.id, Server.permalink == candidate)
            )
            is not None
        )

    token = server_token()
    while session.scalar(select(Server.id).where(Server.token == token)) is not None:
        token = server_token()

    server = Server(
        organization_id=organization.id,
        name=name,
        permalink=choose_permalink(name, permalink, RESERVED_SERVER_PERMALINKS, taken),
        mode=mode,
        token=token,
        ip_pool_id=organization.ip_pool_id,
        spam_threshold=config.postal.default_spam_threshold,
        spam_failure_threshold=config.postal.default_spam_failure_threshold,
    )
    session.add(server)
    session.flush()
    message_dbs.create(server.id)
    return server


def split_server_ref(ref: str) -> tuple[str, str]:
    org, sep, server = ref.partition("/")
    if not sep or not org or not server:
        raise ValidationError("server", f"must be given as ORG/SERVER, not {ref!r}")
    return org, server


def find_server(session: Session, ref: str) -> Server:
    """The server named `org/server` (by permalinks)."""
    org_permalink, server_permalink = split_server_ref(ref)
    org = find_organization(session, org_permalink)
    server = session.scalar(
        select(Server).where(
            Server.organization_id == org.id,
            Server.permalink == server_permalink,
            Server.deleted_at.is_(None),
        )
    )
    if server is None:
        raise NotFound("server", ref)
    return server
