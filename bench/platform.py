"""The platform under test: its configuration, the services it uses, provisioning through the CLI,
and its role processes with their logs."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.options import Options
from tests.support.processes import RoleProcess


class BenchFailed(Exception):
    """The benchmark could not run to the end (set-up, start-up or submission failed)."""


MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_PORT = 5672
SENDER_DOMAIN = "shop.example"
RECIPIENT_DOMAIN = "bench.example"
LOG_RECORD_ERROR = re.compile(r" (ERROR|CRITICAL) ")
LOG_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(: |$)")


@dataclass
class Environment:
    """What this run created outside the temporary directory, to be removed afterwards."""

    workdir: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    databases: list[str] = field(default_factory=list)
    vhost: str | None = None

    @property
    def config_file(self) -> Path:
        return self.workdir / "postal.yml"


def config_data(
    options: Options, env: Environment, dns_port: int, sink_port: int, smtp_port: int, web_port: int
) -> dict[str, Any]:
    """The postal.yml document for this run (DNS and outgoing SMTP pointed at the fakes)."""
    data: dict[str, Any] = {
        "version": 2,
        "postal": {
            "smtp_hostname": "postal.bench",
            "web_hostname": "postal.bench",
            "data_dir": str(env.workdir / "data"),
        },
        "logging": {"level": "warning"},
        "web_server": {"default_port": web_port, "default_bind_address": "127.0.0.1"},
        "smtp_server": {"default_port": smtp_port, "default_bind_address": "127.0.0.1"},
        "worker": {"threads": options.worker_threads},
        "dns": {
            "nameservers": ["127.0.0.1"],
            "port": dns_port,
            "timeout": 2,
            "return_path_domain": "rp.postal.bench",
            "route_domain": "routes.postal.bench",
            "spf_include": "spf.postal.bench",
            "mx_records": ["mx1.postal.bench", "mx2.postal.bench"],
            "dkim_key_size": 1024,
        },
        "smtp_client": {"destination_port": sink_port, "open_timeout": 5, "read_timeout": 30},
    }
    if options.backend == "sqlite":
        data["main_db"] = {"host": ""}
        data["rabbitmq"] = {"host": ""}
        return data
    database = f"postal_bench_{env.suffix}"
    prefix = f"postal-bench-{env.suffix}"
    env.databases = [database, f"{prefix}-server-%"]
    data["main_db"] = {
        "host": MARIADB_HOST,
        "port": MARIADB_PORT,
        "username": "root",
        "password": "",
        "database": database,
        "pool_size": 10,
    }
    data["message_db"] = {"database_name_prefix": prefix}
    data["rabbitmq"] = {
        "host": RABBITMQ_HOST,
        "port": RABBITMQ_PORT,
        "username": "guest",
        "password": "guest",
        "vhost": env.vhost or "/",
    }
    return data


def create_vhost(env: Environment) -> None:
    """A fresh RabbitMQ vhost when rabbitmqctl is on this machine; else the default vhost `/`."""
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        print("rabbitmqctl not found: using the default vhost /")
        return
    name = f"postal-bench-{env.suffix}"
    subprocess.run([ctl, "add_vhost", name], check=True, capture_output=True, timeout=60)
    env.vhost = name
    subprocess.run(
        [ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def delete_vhost(env: Environment) -> None:
    ctl = shutil.which("rabbitmqctl")
    if env.vhost is not None and ctl is not None:
        subprocess.run([ctl, "delete_vhost", env.vhost], check=False, capture_output=True, timeout=60)


def wait_for_consumers(env: Environment, queue: str, consumers: int, timeout: float = 60.0) -> None:
    """Wait until `consumers` processes consume `queue` (the worker processes have started and
    imported everything), so that the start-up of the workers is not in the latency figures."""
    import pika  # the platform's dependency; only the mariadb backend needs it here

    parameters = pika.ConnectionParameters(
        RABBITMQ_HOST, RABBITMQ_PORT, env.vhost or "/", pika.PlainCredentials("guest", "guest")
    )
    deadline = time.monotonic() + timeout
    with contextlib.closing(pika.BlockingConnection(parameters)) as connection:
        while True:
            channel = connection.channel()
            try:
                found = channel.queue_declare(queue, passive=True).method.consumer_count
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet
                found = 0
            if found >= consumers:
                return
            if time.monotonic() > deadline:
                raise BenchFailed(f"{found} of {consumers} worker processes consume {queue} after {timeout:.0f} s")
            time.sleep(0.1)


def drop_databases(patterns: list[str]) -> list[str]:
    """Drop every database whose name is LIKE one of `patterns`; the names dropped."""
    if not patterns:
        return []
    import MySQLdb

    dropped: list[str] = []
    conn = MySQLdb.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root")
    try:
        cursor = conn.cursor()
        for pattern in patterns:
            cursor.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (pattern,))
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP DATABASE `{name}`")
                dropped.append(str(name))
    finally:
        conn.close()
    return dropped


def postal_command() -> list[str]:
    script = Path(sys.executable).parent / "postal"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def cli(config_file: Path, *args: str) -> str:
    env = {**os.environ, "POSTAL_CONFIG_FILE_PATH": str(config_file)}
    result = subprocess.run(
        [*postal_command(), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=config_file.parent,
    )
    if result.returncode != 0:
        raise BenchFailed(f"postal {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def cli_json(config_file: Path, *args: str) -> dict[str, Any]:
    data = json.loads(cli(config_file, *args, "--json"))
    assert isinstance(data, dict)
    return data


@dataclass(frozen=True)
class Account:
    username: str
    key: str
    # Incoming: the routed address every message goes to (no AUTH).
    route_address: str | None = None
    # Submission by the HTTP API: the server's API key.
    api_key: str | None = None


def provision(config_file: Path, direction: str = "outgoing", sink_port: int = 25, via: str = "smtp") -> Account:
    """Initialize and create an organization, a server, a verified domain and an SMTP credential;
    for incoming mail also an SMTP endpoint (the sink) and a route to it."""
    cli(config_file, "initialize")
    org = cli_json(config_file, "org", "create", "Bench")
    server = cli_json(config_file, "server", "create", org["permalink"], "Main")
    ref = f"{org['permalink']}/{server['permalink']}"
    cli(config_file, "domain", "add", ref, SENDER_DOMAIN, "--verified")
    credential = cli_json(config_file, "credential", "create", ref, "--type", "SMTP")
    if via == "api":
        api = cli_json(config_file, "credential", "create", ref, "--type", "API")
        return Account(username=ref, key=str(credential["key"]), api_key=str(api["key"]))
    if direction != "incoming":
        return Account(username=ref, key=str(credential["key"]))
    sink = ["--hostname", f"mx.{RECIPIENT_DOMAIN}", "--port", str(sink_port), "--ssl-mode", "None"]
    endpoint = cli_json(config_file, "endpoint", "create", ref, "smtp", "--name", "Sink", *sink)
    address = f"support@{SENDER_DOMAIN}"
    cli_json(config_file, "route", "create", ref, address, "--endpoint", str(endpoint["ref"]))
    return Account(username=ref, key=str(credential["key"]), route_address=address)


def start_roles(options: Options, config_file: Path) -> list[RoleProcess]:
    workdir = config_file.parent
    if options.backend == "sqlite":
        return [RoleProcess([*postal_command(), "run"], config_file, workdir / "run.log")]
    worker = [
        "worker",
        "--processes",
        str(options.worker_processes),
        "--threads",
        str(options.worker_threads),
    ]
    commands = [["smtp-server"], worker, ["scheduler"]]
    if options.via == "api":
        commands.append(["web-server"])
    return [
        RoleProcess([*postal_command(), *command], config_file, workdir / f"{command[0]}.log") for command in commands
    ]


@dataclass
class LoggedErrors:
    """What the roles logged at ERROR or above, and the exceptions in their tracebacks."""

    records: int = 0
    exceptions: Counter[str] = field(default_factory=Counter)


def log_errors(roles: list[RoleProcess]) -> LoggedErrors:
    found = LoggedErrors()
    for role in roles:
        for line in role.output().splitlines():
            if LOG_RECORD_ERROR.search(line):
                found.records += 1
            elif LOG_EXCEPTION.match(line):
                found.exceptions[f"{role.log_path.stem}: {line.strip()[:200]}"] += 1
    return found


def stop_roles(roles: list[RoleProcess], timeout: float = 20.0) -> list[tuple[RoleProcess, int]]:
    """SIGTERM every role at once, then wait (each is killed after `timeout`); their exit codes."""
    for role in roles:
        if role.process.poll() is None:
            role.process.send_signal(signal.SIGTERM)
    # Wait here rather than in RoleProcess.stop, which sends a second SIGTERM to a role still
    # running: one that has already restored the default handler while shutting down dies of it.
    deadline = time.monotonic() + timeout
    for role in roles:
        with contextlib.suppress(subprocess.TimeoutExpired):
            role.process.wait(max(0.0, deadline - time.monotonic()))
    return [(role, role.stop(timeout=timeout)) for role in roles]
