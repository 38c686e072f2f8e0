"""Suspending a mail server, and telling the people of its organization (Postal e-mails every user
of the organization when an administrator suspends or unsuspends one of its servers)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.config import Config
from core.system_mail import SystemMailFailed, send_system_mail
from models.base import utcnow
from models.organization import Organization, OrganizationUser
from models.server import Server
from models.user import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    to: list[str]
    subject: str
    text: str


def _people(session: Session, organization: Organization) -> list[str]:
    members = select(OrganizationUser.user_id).where(
        OrganizationUser.organization_id == organization.id, OrganizationUser.user_type == "User"
    )
    query = select(User.email_address).where(or_(User.id.in_(members), User.id == organization.owner_id))
    return sorted(set(session.scalars(query)))


def _link(config: Config, organization: Organization, server: Server) -> str:
    base = f"{config.postal.web_protocol}://{config.postal.web_hostname}"
    return f"{base}/org/{organization.permalink}/servers/{server.permalink}"


def suspend_server(session: Session, config: Config, server: Server, reason: str) -> Notice:
    """Suspend `server`: its queued mail is held back and new mail refused. Returns the notice to
    send once the change is committed."""
    organization = session.get(Organization, server.organization_id)
    assert organization is not None
    server.suspended_at = utcnow()
    server.suspension_reason = reason.strip() or "suspended"
    text = (
        f"The mail server {server.name} of {organization.name} has been suspended by an administrator.\n\n"
        f"Reason: {server.suspension_reason}\n\n"
        "While it is suspended it sends no mail and accepts none. Queued messages wait until it is\n"
        f"unsuspended.\n\n{_link(config, organization, server)}\n"
    )
    return Notice(_people(session, organization), f"[{organization.name}] {server.name} has been suspended", text)


def unsuspend_server(session: Session, config: Config, server: Server) -> Notice:
    organization = session.get(Organization, server.organization_id)
    assert organization is not None
    server.suspended_at = None
    server.suspension_reason = None
    text = (
        f"The mail server {server.name} of {organization.name} is no longer suspended: it sends and\n"
        f"accepts mail again.\n\n{_link(config, organization, server)}\n"
    )
    return Notice(_people(session, organization), f"[{organization.name}] {server.name} is no longer suspended", text)


def send_notice(config: Config, notice: Notice) -> threading.Thread:
    """Send `notice` to each person in a thread of its own: the request that suspended the server
    does not wait for the mail server, and a failure is logged, not fatal."""

    def deliver() -> None:
        for address in notice.to:
            try:
                send_system_mail(config, address, notice.subject, notice.text)
            except SystemMailFailed:
                log.warning("the suspension notice to %s was not sent", address)

    thread = threading.Thread(target=deliver, name="suspension-notice", daemon=True)
    thread.start()
    return thread
