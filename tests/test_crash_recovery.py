"""A worker killed with `kill -9` in the middle of its work loses nothing: the worker started
after it takes the dead worker's rows back at once (its leases would last ten minutes), every
message reaches a final status, and no message whose delivery was recorded before the kill is
sent again."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from core.config import load_config
from core.runtime import Runtime
from models.base import table
from models.message.message import Message
from tests.conftest import Backend, merge, postal_command, run_cli
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink

COUNT = 30


def statuses(config_file: Path) -> dict[int, str]:
    """Every message's status, read straight from the server's message database."""
    runtime = Runtime.create(load_config(config_file, environ={}))
    try:
        with runtime.message_dbs.get(1).engine.connect() as conn:
            messages = table(Message)
            return dict(conn.execute(select(messages.c.id, messages.c.status)).all())  # type: ignore[arg-type]
    finally:
        runtime.close()


def test_kill_9_in_the_middle_loses_and_repeats_nothing(
    backend: Backend, config_data: dict[str, Any], smtp_sink: SMTPSink, zone: Any, tmp_path: Path
) -> None:
    # Given an installation whose worker leases last ten minutes, and a slow MX
    smtp_port, web_port = free_port(), free_port()
    config_file = tmp_path / "postal.yml"
    data = merge(
        config_data,
        {
            "smtp_server": {"default_port": smtp_port, "default_bind_address": "127.0.0.1"},
            "web_server": {"default_port": web_port},
            "worker": {"lease_seconds": 600, "threads": 4},
            "logging": {"level": "warning"},
        },
    )
    config_file.write_text(yaml.safe_dump({"version": 2, **data}))
    run_cli("initialize", config_file=config_file)
    run_cli("org", "create", "ACME", "--permalink", "acme", config_file=config_file)
    run_cli("server", "create", "acme", "Main", "--permalink", "main", config_file=config_file)
    run_cli("domain", "add", "acme/main", "example.com", "--verified", config_file=config_file)
    key = json.loads(
        run_cli("credential", "create", "acme/main", "--type", "SMTP", "--json", config_file=config_file).stdout
    )["key"]
    zone.mail_domain("example.net")
    smtp_sink.handler.data_delay = 0.3

    def start(name: str) -> list[RoleProcess]:
        roles = ["smtp-server", "scheduler", "worker"] if backend.external else ["run"]
        return [RoleProcess([*postal_command(), role], config_file, tmp_path / f"{name}-{role}.log") for role in roles]

    first = start("first")
    try:
        wait_for_port(smtp_port, first[0].process)
        # When messages are submitted and the worker is killed while delivering them
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.login("acme/main", key)
            for n in range(COUNT):
                body = f"From: orders@example.com\r\nTo: c{n}@example.net\r\nSubject: {n}\r\n\r\nHello\r\n"
                client.sendmail("orders@example.com", [f"c{n}@example.net"], body.encode())
        smtp_sink.wait_for(5, timeout=60)
        victim = first[-1]
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
    except BaseException:
        for role in first:
            role.stop()
            print(role.output())
        raise
    recorded_before = {mid for mid, status in statuses(config_file).items() if status == "Sent"}
    delivered_before = len(smtp_sink.messages)
    for role in first[:-1]:
        role.stop()

    # Then a new worker on the same host finishes the job without waiting for the dead worker's
    # leases to run out (the deadline is far shorter than the lease)
    second = start("second")
    try:
        deadline = time.monotonic() + 120
        while True:
            current = statuses(config_file)
            if all(status == "Sent" for status in current.values()) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert set(current.values()) == {"Sent"}, current
    finally:
        for role in second:
            role.stop()
    deliveries = Counter(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert set(deliveries) == {f"c{n}@example.net" for n in range(COUNT)}
    for message_id in recorded_before:
        # Message ids follow the submission order, so message n+1 went to c<n>.
        assert deliveries[f"c{message_id - 1}@example.net"] == 1
    # Only a message in flight at the moment of the kill can have gone out twice.
    assert sum(deliveries.values()) - COUNT <= 4
    assert delivered_before >= 5
