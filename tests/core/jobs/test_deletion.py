"""Hard deletion of soft-deleted organizations and servers (Postal's ActionDeletionJob, hourly at
:15): their rows, everything hanging off them, and their message databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import and_, func, or_, select, update

from core.jobs.maintenance import run_task
from core.tenancy.domains import add_domain
from core.tenancy.ip_pools import add_rule, create_pool
from core.tenancy.organizations import find_organization
from core.tenancy.servers import create_server, find_server
from core.webhooks.subscriptions import create_webhook
from models import MainBase
from models.enums import OwnerType
from models.server import Server
from models.user import User
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.outgoing import QM, run_queue, send
from tests.support.smtp_sink import SMTPSink


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def references(installation: Installation, server_ids: list[int], organization_ids: list[int]) -> dict[str, int]:
    """Rows of every main-database table that belong to those servers or organizations."""
    found = {}
    with installation.runtime.db.engine.connect() as conn:
        for t in MainBase.metadata.sorted_tables:
            conditions = []
            if "server_id" in t.c:
                conditions.append(t.c.server_id.in_(server_ids))
            if "organization_id" in t.c:
                conditions.append(t.c.organization_id.in_(organization_ids))
            if "owner_type" in t.c:
                for kind, ids in ((OwnerType.SERVER, server_ids), (OwnerType.ORGANIZATION, organization_ids)):
                    conditions.append(and_(t.c.owner_type == kind.value, t.c.owner_id.in_(ids)))
            if t.name == "servers":
                conditions.append(t.c.id.in_(server_ids))
            if t.name == "organizations":
                conditions.append(t.c.id.in_(organization_ids))
            if conditions:
                count = conn.scalar(select(func.count()).select_from(t).where(or_(*conditions)))
                if count:
                    found[t.name] = int(count)
    return found


def furnish(installation: Installation) -> int:
    """Give the installation's organization a second server, an organization domain, IP rules of
    both kinds and a member, and its server a webhook, one delivered message (with its webhook
    request) and one still queued; returns the second server's id."""
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        org = find_organization(session, "acme")
        server = find_server(session, installation.server_ref)
        other = create_server(session, runtime.config, runtime.message_dbs, org, "Other", "other")
        add_domain(session, runtime.config, org, "acme.example", verified=True)
        pool = create_pool(session, "Bulk")
        add_rule(session, org, pool, to_text="gmail.com")
        add_rule(session, server, pool, from_text="bulk@example.com")
        # Never called here: the request rows are what matters.
        create_webhook(session, server, "http://127.0.0.1:9/hook", events=["MessageSent"])
        other_id = other.id
    runtime.servers.forget()
    [first] = send(installation, "a@example.net")
    send(installation, "b@example.net")
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id != first).values(retry_after=runtime.clock() + dt.timedelta(hours=1)))
    run_queue(installation)
    return other_id


def test_a_deleted_server_goes_with_its_rows_and_its_message_database(
    installation: Installation, api: LiveAPI, smtp_sink: SMTPSink
) -> None:
    # Given a server with credentials, a domain, a webhook, queued mail and webhook requests
    other_id = furnish(installation)
    runtime = installation.runtime
    main_id = installation.server_id
    before = references(installation, [main_id], [])
    assert {"credentials", "domains", "webhooks", "webhook_requests", "queued_messages", "ip_pool_rules"} <= set(before)

    # When it is deleted through the API, then the hourly task runs
    assert api.admin.delete("/organizations/acme/servers/main").status == 204
    assert runtime.message_dbs.exists(main_id)
    assert run_task(runtime, "action_deletions") == 1

    # Then nothing of it is left, and nothing else went
    assert references(installation, [main_id], []) == {}
    assert not runtime.message_dbs.exists(main_id)
    assert runtime.message_dbs.exists(other_id)
    assert api.admin.get("/organizations/acme/servers/other").status == 200
    assert api.admin.get("/organizations/acme").status == 200
    assert run_task(runtime, "action_deletions") == 0


def test_a_deleted_organization_goes_with_all_its_servers(
    installation: Installation, api: LiveAPI, smtp_sink: SMTPSink
) -> None:
    # Given an organization with two servers, a domain, IP rules and a member
    other_id = furnish(installation)
    api.member("member@example.com", "acme")
    runtime = installation.runtime
    with runtime.db.engine.connect() as conn:
        org_id = conn.scalar(select(Server.organization_id).where(Server.id == other_id))
    servers = [installation.server_id, other_id]
    assert {"organization_users", "domains", "ip_pool_rules", "servers"} <= set(references(installation, [], [org_id]))

    # When it is deleted through the API, then the hourly task runs
    assert api.admin.delete("/organizations/acme").status == 204
    assert run_task(runtime, "action_deletions") == 3

    # Then the organization, both servers and their databases are gone; its people stay
    assert references(installation, servers, [org_id]) == {}
    assert not any(runtime.message_dbs.exists(server_id) for server_id in servers)
    with runtime.db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User).where(User.email_address == "member@example.com"))
    assert api.admin.get("/organizations/acme").status == 404


def test_a_server_a_worker_is_busy_with_waits_for_the_next_run(installation: Installation) -> None:
    # Given a soft-deleted server whose queued message a worker holds right now
    runtime = installation.runtime
    [queued_id] = send(installation, "a@example.net")
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == queued_id).values(locked_by="worker", locked_at=runtime.clock()))
        conn.execute(update(Server.__table__).values(deleted_at=runtime.clock()))

    # When the task runs, the server waits
    assert run_task(runtime, "action_deletions") == 0
    assert runtime.message_dbs.exists(installation.server_id)
    assert references(installation, [installation.server_id], []).get("servers") == 1

    # Once the worker's lease has run out, it goes
    stale = runtime.clock() - dt.timedelta(seconds=runtime.config.worker.lease_seconds + 60)
    with runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == queued_id).values(locked_at=stale))
    assert run_task(runtime, "action_deletions") == 1
    assert references(installation, [installation.server_id], []) == {}
    assert not runtime.message_dbs.exists(installation.server_id)
