"""The platform as separate role processes over MariaDB and RabbitMQ reached through fault
proxies, with a load generator that keeps sending while a test breaks things, and the ledger
that tells afterwards what was accepted, refused, lost or delivered twice."""

from __future__ import annotations

import contextlib
import json
import re
import smtplib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import merge, postal_command, run_cli
from tests.support.fault_proxy import FaultProxy
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink

ROLES = ("smtp-server", "worker", "scheduler")
ID_HEADER = re.compile(rb"^X-Load-Id: (\d+)\r?$", re.MULTILINE)


class Platform:
    """`postal smtp-server`, `worker` and `scheduler` (and `web-server` when asked for), each a
    process whose database and broker connections go through `db_proxy` and `mq_proxy`."""

    def __init__(self, config_data: dict[str, Any], tmp_path: Path, web: bool = False) -> None:
        self.tmp_path = tmp_path
        self.db_proxy = FaultProxy(config_data["main_db"]["port"]).start()
        self.mq_proxy = FaultProxy(config_data["rabbitmq"]["port"]).start()
        self.smtp_port, self.web_port = free_port(), free_port()
        data = merge(
            config_data,
            {
                "main_db": {"port": self.db_proxy.port},
                "message_db": {"host": config_data["main_db"]["host"], "port": self.db_proxy.port},
                "rabbitmq": {"port": self.mq_proxy.port},
                "smtp_server": {"default_port": self.smtp_port, "default_bind_address": "127.0.0.1"},
                "web_server": {"default_port": self.web_port, "default_bind_address": "127.0.0.1"},
                "worker": {"threads": 4},
                "logging": {"level": "warning"},
            },
        )
        self.config_file = tmp_path / "postal.yml"
        self.config_file.write_text(yaml.safe_dump({"version": 2, **data}))
        self.roles: dict[str, RoleProcess] = {}
        self.names = (*ROLES, "web-server") if web else ROLES
        self._starts: Counter[str] = Counter()
        self.admin_token = ""

    def provision(self) -> tuple[str, str]:
        """An organization, a server, a verified domain; the SMTP and API keys (and in
        `admin_token` a management API token of a global administrator)."""
        config_file = self.config_file
        run_cli("initialize", config_file=config_file)
        run_cli("org", "create", "ACME", "--permalink", "acme", config_file=config_file)
        run_cli("server", "create", "acme", "Main", "--permalink", "main", config_file=config_file)
        run_cli("domain", "add", "acme/main", "example.com", "--verified", config_file=config_file)
        keys = []
        for kind in ("SMTP", "API"):
            created = run_cli("credential", "create", "acme/main", "--type", kind, "--json", config_file=config_file)
            keys.append(json.loads(created.stdout)["key"])
        run_cli(
            "make-user",
            "--email",
            "admin@example.com",
            "--password",
            "a long password",
            "--admin",
            config_file=config_file,
        )
        token = run_cli("user", "token", "create", "admin@example.com", "--json", config_file=config_file)
        self.admin_token = json.loads(token.stdout)["token"]
        return keys[0], keys[1]

    def start(self, *names: str) -> None:
        for name in names or self.names:
            self._starts[name] += 1
            log = self.tmp_path / f"{name}-{self._starts[name]}.log"
            self.roles[name] = RoleProcess([*postal_command(), name], self.config_file, log)
        if not names or "smtp-server" in names:
            wait_for_port(self.smtp_port, self.roles["smtp-server"].process)
        if "web-server" in self.roles and (not names or "web-server" in names):
            wait_for_port(self.web_port, self.roles["web-server"].process)

    def kill(self, name: str) -> None:
        role = self.roles[name]
        role.process.kill()
        role.process.wait()
        role.stop()

    def stop(self) -> None:
        for role in self.roles.values():
            role.stop()
        self.db_proxy.stop()
        self.mq_proxy.stop()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.tmp_path.glob("*.log"))


@dataclass
class Ledger:
    """What became of each message the load generator tried to send."""

    accepted: set[int] = field(default_factory=set)
    # id → the reply code that refused it (4xx or 5xx).
    refused: dict[int, int] = field(default_factory=dict)
    # Sent, but the connection broke before the reply: the client cannot know.
    unknown: set[int] = field(default_factory=set)
    accepted_at: dict[int, float] = field(default_factory=dict)


class Load:
    """`clients` threads sending one message at a time, with a pause, until stopped; each keeps
    its SMTP connection and opens a new one after an error."""

    def __init__(self, port: int, key: str, clients: int = 3, pause: float = 0.05) -> None:
        self.port, self.key, self.clients, self.pause = port, key, clients, pause
        self.ledger = Ledger()
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def wait_for_accepted(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.ledger.accepted) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.ledger.accepted)} of {count} messages accepted after {timeout} s")
            time.sleep(0.05)

    def stop(self) -> Ledger:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return self.ledger

    def _number(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def _client(self) -> None:
        client: smtplib.SMTP | None = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", self.port, timeout=20)
                    client.login("acme/main", self.key)
            except (OSError, smtplib.SMTPException):
                client = _close(client)
                self._stop.wait(0.2)
                continue
            number = self._number()
            body = (
                f"From: orders@example.com\r\nTo: c{number}@example.net\r\nSubject: {number}\r\n"
                f"X-Load-Id: {number}\r\n\r\nHello {number}\r\n"
            ).encode()
            try:
                client.sendmail("orders@example.com", [f"c{number}@example.net"], body)
                with self._lock:
                    self.ledger.accepted.add(number)
                    self.ledger.accepted_at[number] = time.monotonic()
            except smtplib.SMTPResponseException as exc:
                with self._lock:
                    self.ledger.refused[number] = exc.smtp_code
                client = _close(client) if exc.smtp_code == 421 else _reset(client)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                with self._lock:
                    self.ledger.refused[number] = codes[0] if codes else 0
                client = _reset(client)
            except (OSError, smtplib.SMTPException):
                with self._lock:
                    self.ledger.unknown.add(number)
                client = _close(client)
            self._stop.wait(self.pause)
        _close(client)


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(OSError):
            client.close()
    return None


def _reset(client: smtplib.SMTP | None) -> smtplib.SMTP | None:
    if client is None:
        return None
    try:
        client.rset()
        return client
    except (OSError, smtplib.SMTPException):
        return _close(client)


def delivered(sink: SMTPSink) -> Counter[int]:
    """How often each load message reached the sink."""
    counts: Counter[int] = Counter()
    for message in list(sink.messages):
        match = ID_HEADER.search(message.data)
        if match:
            counts[int(match.group(1))] += 1
    return counts


def wait_for_delivery(sink: SMTPSink, wanted: set[int], timeout: float) -> Counter[int]:
    deadline = time.monotonic() + timeout
    while True:
        counts = delivered(sink)
        if wanted <= set(counts) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)
