"""A full disk while a message is being stored: the SMTP client gets a 4xx (it keeps the message
and tries again), nothing is half-stored, and once there is room again mail flows as before.

The embedded installation (`postal run`, SQLite) keeps its data directory on a small tmpfs of
its own, which the test fills up; mounting one needs root (as the CI machine has)."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, func, select

from models.base import table
from models.message.message import Message
from models.queued_message import QueuedMessage
from tests.conftest import Backend, config_data_for, merge, postal_command, require, run_cli
from tests.support.dns_server import DNSServer
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink

SIZE = "48m"
# Larger than the write-ahead log that provisioning leaves behind, so storing it must grow files.
BIG = 4 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
        check=False,
        capture_output=True,
        text=True,
    )
    require("a tmpfs of the test's own", mounted.returncode == 0, f"mount: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to make room again)."""
    filler = disk / "filler"
    chunk = b"\0" * (1024 * 1024)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
        # The last few bytes too, so that no page of a database file fits any more.
        try:
            while True:
                out.write(b"\0" * 512)
                out.flush()
        except OSError:
            pass
    return filler


def message(size: int, n: int) -> bytes:
    line = b"x" * 76 + b"\r\n"
    body = line * (size // len(line))
    return b"From: orders@example.com\r\nTo: c%d@example.net\r\nSubject: %d\r\n\r\n" % (n, n) + body


def counts(data_dir: Path) -> tuple[int, int, int]:
    """(messages, queued rows, raw tables) as the databases hold them now."""
    main = create_engine(f"sqlite:///{data_dir / 'postal.sqlite3'}")
    server_files = [p for p in data_dir.rglob("*.sqlite3") if p.name != "postal.sqlite3"]
    assert len(server_files) == 1, server_files
    server = create_engine(f"sqlite:///{server_files[0]}")
    try:
        with main.connect() as conn:
            queued = conn.execute(select(func.count()).select_from(table(QueuedMessage))).scalar_one()
        with server.connect() as conn:
            messages = conn.execute(select(func.count()).select_from(table(Message))).scalar_one()
            raws = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name LIKE 'raw-%'").scalar_one()
        return int(messages), int(queued), int(raws)
    finally:
        main.dispose()
        server.dispose()


def settled(data_dir: Path) -> tuple[int, int, int]:
    """The counts once the delivered message's queue row is gone (it is recorded just after the
    MX's reply)."""
    deadline = time.monotonic() + 30
    while (now := counts(data_dir))[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    return now


def test_a_full_disk_while_storing_is_a_4xx_and_nothing_half_stored(
    sqlite_backend: Backend,
    dns_server: DNSServer,
    smtp_sink: SMTPSink,
    zone: Any,
    tmp_path: Path,
    small_disk: Path,
) -> None:
    zone.mail_domain("example.net")
    smtp_port = free_port()
    data = merge(
        config_data_for(sqlite_backend, dns_server, smtp_sink),
        {
            "postal": {"data_dir": str(small_disk)},
            "smtp_server": {"default_port": smtp_port, "default_bind_address": "127.0.0.1"},
            "web_server": {"default_port": free_port()},
            "logging": {"level": "warning"},
        },
    )
    config_file = tmp_path / "postal.yml"
    config_file.write_text(yaml.safe_dump({"version": 2, **data}))
    run_cli("initialize", config_file=config_file)
    run_cli("org", "create", "ACME", "--permalink", "acme", config_file=config_file)
    run_cli("server", "create", "acme", "Main", "--permalink", "main", config_file=config_file)
    run_cli("domain", "add", "acme/main", "example.com", "--verified", config_file=config_file)
    created = run_cli("credential", "create", "acme/main", "--type", "SMTP", "--json", config_file=config_file)
    key = json.loads(created.stdout)["key"]
    role = RoleProcess([*postal_command(), "run"], config_file, tmp_path / "run.log")
    try:
        wait_for_port(smtp_port, role.process)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as client:
            client.login("acme/main", key)
            client.sendmail("orders@example.com", ["c1@example.net"], message(1000, 1))
            smtp_sink.wait_for(1)
            before = settled(small_disk)

            # When the disk is full while a message is being stored
            filler = fill(small_disk)
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("orders@example.com", ["c2@example.net"], message(BIG, 2))
            # Then the client is told to try again later, and nothing of it was stored
            assert 400 <= refused.value.smtp_code < 500, refused.value
            assert counts(small_disk) == before

            # And once there is room again, the same session goes on and the mail flows
            os.unlink(filler)
            client.sendmail("orders@example.com", ["c3@example.net"], message(BIG, 3))
        received = smtp_sink.wait_for(2, timeout=60)
        assert sorted(m.rcpt_tos[0] for m in received) == ["c1@example.net", "c3@example.net"]
    except BaseException:
        role.stop()
        print(role.output())
        raise
    finally:
        role.stop()
