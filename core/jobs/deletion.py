"""Hard deletion of soft-deleted organizations and servers (Postal's ActionDeletionJob, run hourly
at :15 by ActionDeletionsScheduledTask): their rows, what hangs off them, and each server's
message database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, Engine, Table, delete, func, or_, select

from core.db import run_transaction
from core.jobs.task_runs import TaskIncomplete
from core.logs import log_context
from core.runtime import Runtime
from models.base import table
from models.domain import Domain
from models.enums import OwnerType
from models.ip_pool import IPPoolRule
from models.organization import Organization
from models.queued_message import QueuedMessage
from models.server import Server
from models.webhook import WebhookRequest

log = logging.getLogger(__name__)

BATCH = 1000
ORGANIZATIONS = table(Organization)
SERVERS = table(Server)
DOMAINS = table(Domain)
RULES = table(IPPoolRule)
QUEUED = table(QueuedMessage)
REQUESTS = table(WebhookRequest)


@dataclass(frozen=True)
class Doomed:
    id: int
    ref: str


def action_deletions(runtime: Runtime) -> int:
    """Remove every soft-deleted organization (with all its servers) and every soft-deleted
    server; the count is organizations plus servers removed. A server a worker is still busy
    with waits for the next run; one that fails does not stop the others."""
    now = runtime.clock()
    with runtime.db.engine.connect() as conn:
        servers = [
            Doomed(row.id, f"{row.organization}/{row.permalink}")
            for row in conn.execute(
                select(SERVERS.c.id, SERVERS.c.permalink, ORGANIZATIONS.c.permalink.label("organization"))
                .join(ORGANIZATIONS, ORGANIZATIONS.c.id == SERVERS.c.organization_id)
                .where(or_(SERVERS.c.deleted_at.is_not(None), ORGANIZATIONS.c.deleted_at.is_not(None)))
                .order_by(SERVERS.c.id)
            )
        ]
        organizations = [
            Doomed(row.id, row.permalink)
            for row in conn.execute(
                select(ORGANIZATIONS.c.id, ORGANIZATIONS.c.permalink)
                .where(ORGANIZATIONS.c.deleted_at.is_not(None))
                .order_by(ORGANIZATIONS.c.id)
            )
        ]
    if not servers and not organizations:
        return 0
    lease = timedelta(seconds=runtime.config.worker.lease_seconds)
    removed = 0
    failures: dict[str, str] = {}
    for server in servers:
        with log_context(server_id=server.id):
            try:
                removed += delete_server(runtime, server, busy_since=now - lease)
            except Exception as exc:
                log.exception("could not remove server %s", server.ref)
                failures[f"server {server.ref}"] = f"{type(exc).__name__}: {exc}"
    for organization in organizations:
        try:
            removed += delete_organization(runtime.db.engine, organization)
        except Exception as exc:
            log.exception("could not remove organization %s", organization.ref)
            failures[f"organization {organization.ref}"] = f"{type(exc).__name__}: {exc}"
    runtime.servers.forget()
    if failures:
        raise TaskIncomplete("deletions", len(servers) + len(organizations), failures)
    return removed


def delete_server(runtime: Runtime, server: Doomed, busy_since: datetime) -> int:
    """1 when the server is gone, 0 when a worker still holds one of its messages (locked after
    `busy_since`) and it waits for the next run.

    The order makes every step safe to repeat: the queue first (workers stop looking at it), then
    the message database, then the rows, whose foreign keys take credentials, routes, endpoints,
    webhooks, track domains and pending webhook requests with them."""
    engine = runtime.db.engine
    if _drain(engine, QUEUED, server.id, busy_since) or _drain(engine, REQUESTS, server.id, busy_since):
        log.info("server %s is removed on a later run: a worker is still busy with it", server.ref)
        return 0
    runtime.message_dbs.drop(server.id)
    log.info("dropped the message database of server %s", server.ref)

    def rows(conn: Connection) -> None:
        _owned(conn, OwnerType.SERVER, server.id)
        conn.execute(delete(SERVERS).where(SERVERS.c.id == server.id))

    run_transaction(engine, rows)
    log.info("permanently removed server %s (id %d)", server.ref, server.id)
    return 1


def delete_organization(engine: Engine, organization: Doomed) -> int:
    """1 when the organization is gone: after its servers, its domains, IP rules and the row
    (memberships, invitations and IP pool assignments go with it). 0 while a server remains."""

    def rows(conn: Connection) -> int:
        if conn.scalar(select(func.count()).select_from(SERVERS).where(SERVERS.c.organization_id == organization.id)):
            return 0
        _owned(conn, OwnerType.ORGANIZATION, organization.id)
        conn.execute(delete(ORGANIZATIONS).where(ORGANIZATIONS.c.id == organization.id))
        return 1

    done = run_transaction(engine, rows)
    if done:
        log.info("permanently removed organization %s (id %d)", organization.ref, organization.id)
    else:
        log.info("organization %s is removed on a later run, after its servers", organization.ref)
    return done


def _owned(conn: Connection, owner_type: OwnerType, owner_id: int) -> None:
    """Rows that name their owner polymorphically (no foreign key to cascade): domains, with
    their routes and track domains, and IP pool rules."""
    conn.execute(delete(DOMAINS).where(DOMAINS.c.owner_type == owner_type.value, DOMAINS.c.owner_id == owner_id))
    conn.execute(delete(RULES).where(RULES.c.owner_type == owner_type.value, RULES.c.owner_id == owner_id))


def _drain(engine: Engine, work: Table, server_id: int, busy_since: datetime) -> bool:
    """Delete the server's rows of the queue (or of pending webhook requests) a batch per
    transaction, except those a worker locked after `busy_since`; True when such rows remain."""
    while (
        run_transaction(engine, partial(_drain_batch, work=work, server_id=server_id, busy_since=busy_since)) == BATCH
    ):
        pass
    with engine.connect() as conn:
        busy = conn.scalar(
            select(func.count()).select_from(work).where(work.c.server_id == server_id, work.c.locked_at >= busy_since)
        )
    return bool(busy)


def _drain_batch(conn: Connection, work: Table, server_id: int, busy_since: datetime) -> int:
    idle = or_(work.c.locked_at.is_(None), work.c.locked_at < busy_since)
    ids = list(conn.scalars(select(work.c.id).where(work.c.server_id == server_id, idle).limit(BATCH)))
    if ids:
        conn.execute(delete(work).where(work.c.id.in_(ids)))
    return len(ids)
