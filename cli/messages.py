"""Message commands: `postal message show`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from sqlalchemy import select

from cli.common import emit, runtime_from
from core.messages.view import deliveries_data, find_message, message_data, queue_data
from core.tenancy.servers import find_server
from models.queued_message import QueuedMessage


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if epoch else "-"


def show(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
    mdb = runtime.message_dbs.get(server.id)
    with mdb.engine.connect() as conn:
        message = find_message(conn, args.id)
        data = message_data(conn, message, True)
        data["deliveries"] = deliveries_data(conn, message.id)
    with runtime.db.transaction() as session:
        row = session.scalar(
            select(QueuedMessage).where(QueuedMessage.server_id == server.id, QueuedMessage.message_id == message.id)
        )
        data["queue"] = queue_data(row)
    details, status = data["details"], data["status"]
    lines = [
        f"Message {message.id} (token {message.token}), {details['direction']}: {status['status']}",
        f"  From {details['mail_from']} to {details['rcpt_to']}, subject {details['subject']!r}",
        f"  Received {_when(details['timestamp'])}, {details['size']} bytes",
    ]
    if data["queue"]:
        queue = data["queue"]
        lines.append(
            f"  Queued: {queue['attempts']} attempt(s), retry after {_when(queue['retry_after'])}"
            f"{', locked' if queue['locked'] else ''}"
        )
    lines.append("  Deliveries:")
    for d in data["deliveries"]:
        lines.append(f"    {_when(d['timestamp'])}  {d['status']:<13} {d['details']}")
        if d["output"]:
            lines.append(f"      {d['output']}")
    if not data["deliveries"]:
        lines.append("    (none yet)")
    activity = data["activity_entries"]
    if activity["loads"] or activity["clicks"]:
        lines.append(f"  Opens: {len(activity['loads'])}, clicks: {len(activity['clicks'])}")
        for load in activity["loads"]:
            lines.append(f"    {load['timestamp']}  opened from {load['ip_address']} ({load['user_agent'] or '-'})")
        for click in activity["clicks"]:
            lines.append(f"    {click['timestamp']}  clicked {click['url']} from {click['ip_address']}")
    emit(args, data, "\n".join(lines))
    return 0
