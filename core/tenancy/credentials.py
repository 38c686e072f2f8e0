"""Credentials: SMTP passwords, API keys and SMTP-IP networks of a mail server."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from core.db import Database
from core.errors import ValidationError
from core.tokens import credential_key
from models.base import utcnow
from models.credential import Credential
from models.enums import CredentialType
from models.organization import Organization
from models.server import Server


def create_credential(
    session: Session,
    server: Server,
    type_: CredentialType,
    name: str | None = None,
    key: str | None = None,
    hold: bool = False,
) -> Credential:
    if type_ is CredentialType.SMTP_IP:
        if not key:
            raise ValidationError("key", "must be an IP address or network for an SMTP-IP credential")
        try:
            key = str(ipaddress.ip_network(key.strip(), strict=False))
        except ValueError:
            raise ValidationError("key", f"{key!r} is not an IP address or network") from None
    elif key is not None:
        key = key.strip()
        if len(key) < 8 or any(c.isspace() for c in key):
            raise ValidationError("key", "must be at least 8 characters without spaces")
    else:
        key = credential_key()
        while session.scalar(select(Credential.id).where(Credential.key == key)) is not None:
            key = credential_key()
    if session.scalar(select(Credential.id).where(Credential.key == key)) is not None:
        raise ValidationError("key", "has already been taken")
    credential = Credential(
        server_id=server.id,
        type=type_,
        name=(name or f"{type_.value} credential").strip(),
        key=key,
        hold=hold,
    )
    session.add(credential)
    session.flush()
    return credential


@dataclass(frozen=True)
class Authenticated:
    """Who a credential speaks for, as the SMTP server and the API need it."""

    credential_id: int
    server_id: int
    organization_permalink: str
    server_permalink: str
    suspended: bool
    hold: bool


# Built once: building a statement costs more than running it (every SMTP AUTH and every API
# request looks a credential up). Only the columns `Authenticated` needs, without the ORM.
_LIVE_CREDENTIALS = (
    select(
        Credential.id,
        Credential.key,
        Credential.last_used_at,
        Credential.hold,
        Server.id.label("server_id"),
        Server.permalink.label("server_permalink"),
        Server.suspended_at.label("server_suspended_at"),
        Organization.permalink.label("organization_permalink"),
        Organization.suspended_at.label("organization_suspended_at"),
    )
    .join(Server, Server.id == Credential.server_id)
    .join(Organization, Organization.id == Server.organization_id)
    .where(Credential.type == bindparam("b_type"), Server.deleted_at.is_(None), Organization.deleted_at.is_(None))
)
_BY_KEY = _LIVE_CREDENTIALS.where(Credential.key == bindparam("b_key"))
_BY_SERVER = _LIVE_CREDENTIALS.where(
    Organization.permalink == bindparam("b_organization"), Server.permalink == bindparam("b_server")
).order_by(Credential.id)
_MARK_USED = update(Credential).where(Credential.id == bindparam("b_id")).values(last_used_at=bindparam("b_now"))


def authenticate_key(db: Database, key: str, type_: CredentialType) -> Authenticated | None:
    """The credential of type `type_` whose key is `key`, or None; marks it used (Postal's `use`)."""
    if not key:
        return None
    with db.engine.begin() as conn:
        row = conn.execute(_BY_KEY, {"b_key": key, "b_type": type_}).first()
        return None if row is None else _use(conn, row)


def authenticate_server_credential(
    db: Database,
    organization_permalink: str,
    server_permalink: str,
    type_: CredentialType,
    proves: Callable[[str], bool],
) -> Authenticated | None:
    """The first credential of type `type_` of the server `organization/server` whose key
    `proves(key)` accepts, or None; marks it used. For challenge-response (AUTH CRAM-MD5), where
    the client shows it knows a key without sending it, so the keys are tried one by one."""
    if not organization_permalink or not server_permalink:
        return None
    with db.engine.begin() as conn:
        parameters = {"b_organization": organization_permalink, "b_server": server_permalink, "b_type": type_}
        for row in conn.execute(_BY_SERVER, parameters).all():
            if proves(row.key):
                return _use(conn, row)
    return None


def _use(conn: Connection, row: Any) -> Authenticated:
    """Marks the credential of `row` (of `_LIVE_CREDENTIALS`) used and says whom it speaks for.
    One write per authentication at most once a minute: the UI only shows coarse usage."""
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        conn.execute(_MARK_USED, {"b_id": row.id, "b_now": now})
    return Authenticated(
        credential_id=row.id,
        server_id=row.server_id,
        organization_permalink=row.organization_permalink,
        server_permalink=row.server_permalink,
        suspended=row.server_suspended_at is not None or row.organization_suspended_at is not None,
        hold=bool(row.hold),
    )


def authenticated(credential: Credential, server: Server, org: Organization) -> Authenticated:
    """Whom `credential` of `server` in `org` speaks for."""
    return Authenticated(
        credential_id=credential.id,
        server_id=server.id,
        organization_permalink=org.permalink,
        server_permalink=server.permalink,
        suspended=server.suspended_at is not None or org.suspended_at is not None,
        hold=credential.hold,
    )
