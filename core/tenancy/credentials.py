"""Credentials: SMTP passwords, API keys and SMTP-IP networks of a mail server."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
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


def authenticate_key(db: Database, key: str, type_: CredentialType) -> Authenticated | None:
    """The credential of type `type_` whose key is `key`, or None; marks it used (Postal's `use`)."""
    if not key:
        return None
    with db.transaction() as session:
        row = session.execute(
            select(Credential, Server, Organization)
            .join(Server, Server.id == Credential.server_id)
            .join(Organization, Organization.id == Server.organization_id)
            .where(
                Credential.key == key,
                Credential.type == type_,
                Server.deleted_at.is_(None),
                Organization.deleted_at.is_(None),
            )
        ).first()
        if row is None:
            return None
        credential, server, org = row
        return _use(session, credential, server, org)


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
    with db.transaction() as session:
        rows = session.execute(
            select(Credential, Server, Organization)
            .join(Server, Server.id == Credential.server_id)
            .join(Organization, Organization.id == Server.organization_id)
            .where(
                Organization.permalink == organization_permalink,
                Server.permalink == server_permalink,
                Credential.type == type_,
                Server.deleted_at.is_(None),
                Organization.deleted_at.is_(None),
            )
            .order_by(Credential.id)
        ).all()
        for credential, server, org in rows:
            if proves(credential.key):
                return _use(session, credential, server, org)
    return None


def _use(session: Session, credential: Credential, server: Server, org: Organization) -> Authenticated:
    """Marks `credential` used and says whom it speaks for. One write per authentication at most
    once a minute: the UI only shows coarse usage."""
    now = utcnow()
    if credential.last_used_at is None or now - credential.last_used_at > timedelta(minutes=1):
        session.execute(update(Credential).where(Credential.id == credential.id).values(last_used_at=now))
    return authenticated(credential, server, org)


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
