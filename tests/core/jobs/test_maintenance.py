"""The periodic tasks (reference §8) the scheduler hands to workers."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from sqlalchemy import insert, select, update

from core.jobs.maintenance import TASKS, run_task
from core.messages import suppressions
from core.tenancy.servers import find_server
from core.webhooks.requests import HISTORY, REQUESTS
from core.webhooks.subscriptions import create_webhook
from models.base import table
from models.domain import Domain
from models.enums import ServerMode
from models.message.message import Message
from scheduler.app import CRON
from tests.conftest import Installation
from tests.support.outgoing import change_server, message, run_queue, send
from tests.support.smtp_sink import SMTPSink


def test_every_task_is_scheduled() -> None:
    assert set(CRON) == set(TASKS)


def test_held_messages_expire(installation: Installation, smtp_sink: SMTPSink) -> None:
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, "a@example.net", "b@example.net")
    run_queue(installation)
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        conn.execute(update(table(Message)).where(table(Message).c.id == 1).values(hold_expiry=time.time() - 1))
    assert run_task(installation.runtime, "expire_held_messages") == 1
    expired, kept = message(installation, 1), message(installation, 2)
    assert expired["status"] == "HoldCancelled" and expired["held"] is False
    assert expired["deliveries"][-1]["details"] == "The hold on this message has been removed without action."
    assert kept["status"] == "Held"


def test_expired_suppressions_and_old_webhook_history_are_pruned(installation: Installation) -> None:
    now = time.time()
    with installation.runtime.message_dbs.get(installation.server_id).transaction() as conn:
        suppressions.add(conn, "old@example.net", "x", now - 40 * 86400, 30)
        suppressions.add(conn, "new@example.net", "x", now, 30)
        for age_days in (8, 1):
            conn.execute(
                insert(HISTORY).values(uuid=f"u{age_days}", event="MessageSent", timestamp=now - age_days * 86400)
            )
    assert run_task(installation.runtime, "prune_suppression_lists") == 1
    assert run_task(installation.runtime, "prune_webhook_history") == 1
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        assert [r.address for r in suppressions.listing(conn, now)] == ["new@example.net"]
        assert list(conn.scalars(select(HISTORY.c.uuid))) == ["u1"]


def webhook_bodies(installation: Installation) -> list[dict[str, Any]]:
    with installation.runtime.db.engine.connect() as conn:
        rows = conn.execute(select(REQUESTS.c.event, REQUESTS.c.payload).order_by(REQUESTS.c.id)).all()
    return [{"event": event, "payload": json.loads(payload)} for event, payload in rows]


def test_send_limit_notifications_fire_once_an_hour(installation: Installation) -> None:
    with installation.runtime.db.transaction() as session:
        create_webhook(session, find_server(session, installation.server_ref), "http://127.0.0.1:9/hook")
    change_server(installation, send_limit=100, send_limit_exceeded_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    assert run_task(installation.runtime, "send_limit_notifications") == 1
    [sent] = webhook_bodies(installation)
    assert sent["event"] == "SendLimitExceeded"
    assert sent["payload"]["limit"] == 100 and sent["payload"]["volume"] == 0
    assert sent["payload"]["server"]["permalink"] == "main" and sent["payload"]["server"]["organization"] == "acme"
    assert run_task(installation.runtime, "send_limit_notifications") == 0  # already told


def test_automatic_dns_checks_report_problems_of_server_domains(installation: Installation) -> None:
    with installation.runtime.db.transaction() as session:
        create_webhook(session, find_server(session, installation.server_ref), "http://127.0.0.1:9/hook")
        session.execute(update(Domain).values(dns_checked_at=dt.datetime(2020, 1, 1)))
    installation.runtime.servers.forget()
    assert run_task(installation.runtime, "check_all_dns") == 1
    [error] = webhook_bodies(installation)
    assert error["event"] == "DomainDNSError"
    payload = error["payload"]
    assert payload["domain"] == "example.com" and payload["spf_status"] == "Missing"
    assert payload["dkim_error"].startswith("No TXT records were returned for")
    assert isinstance(payload["dns_checked_at"], float)
    # Checked a moment ago: not again for an hour.
    assert run_task(installation.runtime, "check_all_dns") == 0
