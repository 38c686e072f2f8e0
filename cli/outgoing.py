"""CLI commands of the outgoing engine: IP pools, DKIM rotation, message actions, suppressions
and webhooks."""

from __future__ import annotations

import argparse
import re
import time
from datetime import timedelta

from sqlalchemy import select

from cli.common import emit, runtime_from
from cli.provision import _owner
from core import presenters
from core.errors import PostalError, ValidationError
from core.messages import complaints, suppressions
from core.queue.actions import Filter, apply, find_messages
from core.tenancy.domains import dns_records, find_domain, rotate_dkim
from core.tenancy.ip_pools import add_address, add_rule, create_pool, find_pool
from core.tenancy.servers import find_server
from core.webhooks.requests import history, resend
from core.webhooks.subscriptions import create_webhook
from models.webhook import Webhook, WebhookEvent

DURATION = re.compile(r"\A(\d+)\s*([smhd])\Z")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match:
        raise ValidationError("--older-than", f"must be a number and a unit (s, m, h, d), e.g. 2h, not {text!r}")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2)])


# -- IP pools ---------------------------------------------------------------------------------


def ip_pool_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        data = presenters.ip_pool(create_pool(session, args.name, args.permalink, default=args.default))
    emit(args, data, f"Created IP pool {data['permalink']} (queue {data['queue']}).")
    return 0


def ip_address_add(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        pool = find_pool(session, args.pool)
        address = add_address(session, pool, args.ipv4, args.hostname, args.ipv6, args.priority)
        data = presenters.ip_address(address)
    emit(args, data, f"Added {data['ipv4']} ({data['hostname']}) to pool {args.pool}.")
    return 0


def ip_rule_add(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        owner = _owner(session, args.owner)
        pool = find_pool(session, args.pool)
        rule = add_rule(session, owner, pool, "\n".join(args.from_ or []), "\n".join(args.to or []))
        data = presenters.ip_rule(rule)
    emit(args, data, f"Added a rule sending matching mail of {args.owner} through pool {args.pool}.")
    return 0


# -- DKIM -------------------------------------------------------------------------------------


def domain_rotate_dkim(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        owner = _owner(session, args.owner) if args.owner else None
        domain = find_domain(session, args.domain, owner)
        rotate_dkim(runtime.config, domain)
        records = [r for r in dns_records(runtime.config, domain) if r.purpose == "dkim"]
    new = records[-1]
    emit(
        args,
        {"domain": domain.name, "records": [r.as_dict() for r in records]},
        f"Publish the new DKIM record, then run `postal domain check {domain.name}`:\n"
        f"{new.name}. TXT {new.value}\n"
        "Mail is signed with the current key until the new record checks out; keep the old record "
        "published for a few days after that.",
    )
    return 0


# -- message actions --------------------------------------------------------------------------


def message_action(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    ids = [int(i) for i in args.ids]
    filtered = args.all_held or args.status or args.domain or args.older_than
    if filtered:
        where = Filter(
            status=args.status,
            held=True if args.all_held else None,
            recipient_domain=args.domain,
            older_than=parse_duration(args.older_than) if args.older_than else None,
        )
        ids += find_messages(runtime, server.id, where)
    if not ids:
        raise PostalError("name the messages (IDs) or choose them with --all-held, --status, --domain, --older-than")
    results = apply(runtime, server.id, args.action, sorted(set(ids)))
    done = sum(1 for r in results if r.done)
    data = {
        "action": args.action,
        "count": done,
        "messages": [{"id": r.message_id, "done": r.done, "result": r.reason} for r in results],
    }
    lines = [f"{args.action}: {done} of {len(results)} message(s)"]
    lines += [f"  {r.message_id}: {r.reason}" for r in results]
    emit(args, data, "\n".join(lines))
    return 0 if done or not results else 2


# -- suppressions -----------------------------------------------------------------------------


def suppression_add(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    days = args.days if args.days is not None else runtime.config.postal.default_suppression_list_automatic_removal_days
    now = time.time()
    with runtime.message_dbs.get(server.id).transaction() as conn:
        suppressions.add(conn, args.address, args.reason, now, days)
        row = suppressions.get(conn, args.address, now)
    assert row is not None
    data = presenters.suppression(row)
    emit(args, data, f"{data['address']} is suppressed for {days:g} day(s): {data['reason']}")
    return 0


def suppression_remove(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    with runtime.message_dbs.get(server.id).transaction() as conn:
        removed = suppressions.remove(conn, args.address)
    emit(args, {"address": args.address, "removed": removed}, "Removed." if removed else "It was not on the list.")
    return 0 if removed else 2


def suppression_list(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    now = time.time()
    with runtime.message_dbs.get(server.id).reader.connect() as conn:
        rows = [presenters.suppression(r) for r in suppressions.listing(conn, now, limit=args.limit)]
        total = suppressions.count(conn, now)
    lines = [f"{total} suppressed address(es)"]
    lines += [
        f"  {r['address']}  {r['reason']}  until {time.strftime('%Y-%m-%d', time.gmtime(r['keep_until']))}"
        for r in rows
    ]
    emit(args, {"total": total, "suppressions": rows}, "\n".join(lines))
    return 0


def complaint_list(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    with runtime.message_dbs.get(server.id).reader.connect() as conn:
        rows = [presenters.complaint(r) for r in complaints.newest(conn, limit=args.limit)]
        total = complaints.count(conn)
    lines = [f"{total} complaint(s)"]
    lines += [
        f"  {time.strftime('%Y-%m-%d %H:%M', time.gmtime(r['timestamp']))}  {r['address']}  {r['feedback_type']}"
        f"  message {r['message_id']}" + (f"  from {r['user_agent']}" if r["user_agent"] else "")
        for r in rows
    ]
    emit(args, {"total": total, "complaints": rows}, "\n".join(lines))
    return 0


# -- webhooks ---------------------------------------------------------------------------------


def webhook_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        hook = create_webhook(session, server, args.url, args.name, args.event)
        data = presenters.webhook(hook, list(dict.fromkeys(args.event or [])))
    runtime.servers.forget(server.id)
    what = "all events" if data["all_events"] else ", ".join(data["events"])
    emit(args, data, f"Created webhook {data['uuid']} to {data['url']} for {what}.")
    return 0


def webhook_list(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        hooks = session.scalars(select(Webhook).where(Webhook.server_id == server.id)).all()
        events = session.execute(
            select(WebhookEvent.webhook_id, WebhookEvent.event).where(
                WebhookEvent.webhook_id.in_([h.id for h in hooks])
            )
        ).all()
        data = [presenters.webhook(h, [e for wid, e in events if wid == h.id]) for h in hooks]
    lines = [f"{h['uuid']}  {h['url']}  {'all events' if h['all_events'] else ', '.join(h['events'])}" for h in data]
    emit(args, {"webhooks": data}, "\n".join(lines) or "No webhooks.")
    return 0


def webhook_history(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        webhook_id = None
        if args.webhook:
            hook = session.scalar(
                select(Webhook).where(
                    Webhook.server_id == server.id,
                    (Webhook.uuid == args.webhook)
                    | (Webhook.id == (int(args.webhook) if args.webhook.isdigit() else -1)),
                )
            )
            if hook is None:
                raise PostalError(f"webhook not found: {args.webhook}")
            webhook_id = hook.id
    rows = history(runtime, server.id, webhook_id, limit=args.limit)
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(r['timestamp']))}  {r['event']:<22} attempt {r['attempt']}  "
        f"status {r['status_code']}{'  will retry' if r['will_retry'] else ''}  {r['uuid']}"
        for r in rows
    ]
    emit(args, {"requests": rows}, "\n".join(lines) or "No requests yet.")
    return 0


def webhook_resend(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    request_id = resend(runtime, server.id, args.uuid)
    emit(args, {"uuid": args.uuid, "request_id": request_id}, f"Request {args.uuid} is queued to be sent again.")
    return 0
