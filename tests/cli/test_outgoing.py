"""CLI of the outgoing engine: IP pools, rules, DKIM rotation, suppressions, webhooks and actions on
messages, with their `--json` shapes and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from core.broker import Publisher
from core.config import load_config
from core.outgoing.submission import Submission, submit
from core.runtime import Runtime
from models.base import table
from models.queued_message import QueuedMessage
from tests.support.cli import CLI


def provision(cli: CLI) -> dict[str, Any]:
    cli.json("org", "create", "ACME", "--permalink", "acme")
    server = cli.json("server", "create", "acme", "Main", "--permalink", "main")
    cli.json("domain", "add", "acme/main", "example.com", "--verified")
    return dict(server)


def test_ip_pools_addresses_and_rules(cli: CLI) -> None:
    pool = cli.json("ip-pool", "create", "Bulk Mail")
    assert pool["permalink"] == "bulk-mail" and pool["queue"] == "outgoing-bulk-mail"
    address = cli.json("ip-address", "add", "bulk-mail", "192.0.2.10", "--ipv6", "2001:db8::10",
                       "--hostname", "Bulk1.Example.com", "--priority", "50")  # fmt: skip
    assert address == {
        "id": address["id"], "ip_pool_id": pool["id"], "ipv4": "192.0.2.10", "ipv6": "2001:db8::10",
        "hostname": "bulk1.example.com", "priority": 50,
    }  # fmt: skip
    cli.json("org", "create", "ACME", "--permalink", "acme")
    server = cli.json("server", "create", "acme", "Main", "--ip-pool", "bulk-mail")
    assert server["permalink"] == "main"
    rule = cli.json("ip-rule", "add", "acme/main", "bulk-mail", "--to", "gmail.com", "--from", "news@example.com")
    assert rule["owner_type"] == "Server" and rule["to"] == ["gmail.com"] and rule["from"] == ["news@example.com"]
    assert "already in a pool" in cli.fails("ip-address", "add", "bulk-mail", "192.0.2.10", "--hostname", "x")
    assert "not an IPv4 address" in cli.fails("ip-address", "add", "bulk-mail", "nope", "--hostname", "x")
    assert "IP pool not found" in cli.fails("ip-rule", "add", "acme", "missing", "--to", "x.com")
    assert "at least one" in cli.fails("ip-rule", "add", "acme", "bulk-mail")


def test_dkim_rotation_lists_both_records(cli: CLI) -> None:
    provision(cli)
    rotated = cli.json("domain", "rotate-dkim", "example.com")
    old, new = rotated["records"]
    assert old["name"] != new["name"] and new["value"].startswith("v=DKIM1; t=s; h=sha256; p=")
    listed = [r for r in cli.json("domain", "dns", "example.com")["records"] if r["purpose"] == "dkim"]
    assert listed == rotated["records"]


def test_suppressions(cli: CLI) -> None:
    provision(cli)
    added = cli.json("suppression", "add", "acme/main", "Someone@Example.net", "--reason", "asked us", "--days", "2")
    assert added["address"] == "someone@example.net" and added["reason"] == "asked us"
    assert 1.9 * 86400 < added["keep_until"] - added["timestamp"] < 2.1 * 86400
    listed = cli.json("suppression", "list", "acme/main")
    assert listed["total"] == 1 and listed["suppressions"][0]["address"] == "someone@example.net"
    assert cli.json("suppression", "remove", "acme/main", "someone@example.net")["removed"] is True
    assert cli.json("suppression", "list", "acme/main")["total"] == 0
    code, _, _ = cli("suppression", "remove", "acme/main", "someone@example.net")
    assert code == 2


def test_webhooks(cli: CLI) -> None:
    provision(cli)
    hook = cli.json("webhook", "create", "acme/main", "https://hooks.example.com/postal",
                    "--event", "MessageSent", "--event", "MessageBounced")  # fmt: skip
    assert hook["all_events"] is False and hook["events"] == ["MessageSent", "MessageBounced"]
    every = cli.json("webhook", "create", "acme/main", "https://hooks.example.com/all")
    assert every["all_events"] is True and every["events"] == []
    assert [h["uuid"] for h in cli.json("webhook", "list", "acme/main")["webhooks"]] == [hook["uuid"], every["uuid"]]
    assert cli.json("webhook", "history", "acme/main", "--webhook", hook["uuid"]) == {"requests": []}
    assert "must be an http" in cli.fails("webhook", "create", "acme/main", "mailto:x@example.com")
    assert "is not one of" in cli.fails("webhook", "create", "acme/main", "https://x.example", "--event", "Nope")
    assert "webhook request not found" in cli.fails("webhook", "resend", "acme/main", "no-such-uuid")


def queue_rows(config_file: Path) -> list[Any]:
    runtime = Runtime.create(load_config(config_file, environ={}))
    try:
        with runtime.db.engine.connect() as conn:
            return list(conn.execute(select(table(QueuedMessage))).mappings().all())
    finally:
        runtime.close()


def test_message_actions_from_the_cli_leave_publishing_to_the_requeuer(cli: CLI, config_file: Path) -> None:
    provision(cli)
    runtime = Runtime.create(load_config(config_file, environ={}), Publisher(StubBroker()))
    try:
        raw = b"From: orders@example.com\r\nSubject: x\r\n\r\nHi\r\n"
        submit(
            runtime,
            Submission(server_id=1, mail_from="orders@example.com", rcpt_to=["a@x.example", "b@y.example"], raw=raw),
        )
    finally:
        runtime.close()

    # Queued, not held: release does not apply (exit status 2), remove takes them off the queue.
    code, out, _ = cli("message", "release", "acme/main", "1", "--json")
    assert code == 2 and json.loads(out)["messages"] == [{"id": 1, "done": False, "result": "not held"}]
    removed = cli.json("message", "remove", "acme/main", "--domain", "y.example")
    assert removed["messages"] == [{"id": 2, "done": True, "result": "removed from the queue"}]
    retried = cli.json("message", "retry", "acme/main", "1", "2")
    assert [m["result"] for m in retried["messages"]] == ["queued to run now", "queued to run now"]

    # The CLI has no broker of its own: the rows wait for the requeuer (published_at is empty).
    rows = sorted((r["message_id"], r["manual"], r["published_at"]) for r in queue_rows(config_file))
    assert rows == [(1, False, None), (2, True, None)]
    assert "name the messages" in cli.fails("message", "retry", "acme/main")
    assert "must be a number and a unit" in cli.fails("message", "cancel", "acme/main", "--older-than", "soon")
