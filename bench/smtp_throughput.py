"""SMTP throughput: N messages through submission into a sink; accepted/s, delivered/s and latency."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench import cpu
from tests.support.dns_server import DNSServer
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SinkHandler, SMTPSink

MARIADB_HOST = "127.0.0.1"
MARIADB_PORT = 3306
RABBITMQ_HOST = "127.0.0.1"
RABBITMQ_PORT = 5672
SENDER_DOMAIN = "shop.example"
RECIPIENT_DOMAIN = "bench.example"
LOG_RECORD_ERROR = re.compile(r" (ERROR|CRITICAL) ")
LOG_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(: |$)")
BENCH_ID = re.compile(rb"^X-Bench-Id:[ \t]*(\d+)[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)


class BenchFailed(Exception):
    """The benchmark could not run to the end (set-up, start-up or submission failed)."""


# -- the remote MX -----------------------------------------------------------------------------


class TimingHandler(SinkHandler):
    """The sink's handler, keeping only the monotonic receive time of each `X-Bench-Id`."""

    def __init__(self) -> None:
        super().__init__()
        self.received_at: dict[int, float] = {}
        self.duplicates = 0
        self.unknown = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        with self._cond:
            if not reply.startswith("250") or not self.messages:
                return reply
            # The parent appended this message without awaiting: it is the last one. Only its time
            # and id are kept, so long runs do not hold every message in memory.
            item = self.messages.pop()
            headers = item.data.partition(b"\r\n\r\n")[0]
            match = BENCH_ID.search(headers)
            if match is None:
                self.unknown += 1
            else:
                bench_id = int(match.group(1))
                if bench_id in self.received_at:
                    self.duplicates += 1
                else:
                    self.received_at[bench_id] = item.at
            self._cond.notify_all()
        return reply

    def wait_for_ids(self, ids: set[int], timeout: float, progress_every: float = 30.0) -> int:
        """Wait until every id in `ids` has arrived or `timeout` passes; how many arrived."""
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + progress_every
        with self._cond:
            while True:
                # Cheap test first: the set comparison only once enough messages are in.
                if len(self.received_at) >= len(ids) and ids <= self.received_at.keys():
                    return len(ids)
                now = time.monotonic()
                if now >= deadline:
                    return len(ids & self.received_at.keys())
                if now >= next_report:
                    arrived = len(ids & self.received_at.keys())
                    print(f"  … {arrived}/{len(ids)} delivered to the sink", flush=True)
                    next_report = now + progress_every
                self._cond.wait(min(deadline, next_report) - now)

    def snapshot(self) -> dict[int, float]:
        with self._cond:
            return dict(self.received_at)


class TimingSink(SMTPSink):
    def __init__(self) -> None:
        super().__init__()
        self.handler: TimingHandler = TimingHandler()


# -- options and configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    backend: str
    direction: str
    via: str
    messages: int
    clients: int
    per_connection: int
    size: int
    worker_processes: int
    worker_threads: int
    timeout: float
    keep: bool


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.smtp_throughput",
        description="Drive messages through SMTP submission into a sink and report the throughput.",
    )
    parser.add_argument("--backend", choices=["sqlite", "mariadb"], required=True)
    parser.add_argument(
        "--direction",
        choices=["outgoing", "incoming"],
        default="outgoing",
        help="outgoing: authenticated submission delivered to the MX (default); incoming: "
        "unauthenticated mail to a route whose SMTP endpoint is the sink",
    )
    parser.add_argument(
        "--via",
        choices=["smtp", "api"],
        default="smtp",
        help="outgoing only: submit by SMTP (default) or by HTTP API v1 /api/v1/send/message",
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages to send (default 2000)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent SMTP clients (default 20)")
    parser.add_argument("--per-connection", type=int, default=10, help="messages per SMTP connection (default 10)")
    parser.add_argument("--size", type=int, default=2048, help="message size in bytes (default 2048)")
    parser.add_argument("--worker-processes", type=int, default=2, help="`postal worker --processes` (mariadb only)")
    parser.add_argument("--worker-threads", type=int, default=8, help="worker threads per process")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every message at the sink")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory, the databases and the vhost afterwards",
    )
    args = parser.parse_args(argv)
    for name in ("messages", "clients", "per_connection", "size", "worker_processes", "worker_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.via == "api" and args.direction != "outgoing":
        parser.error("--via api submits outgoing mail; it cannot be combined with --direction incoming")
    return Options(
        backend=args.backend,
        direction=args.direction,
        via=args.via,
        messages=args.messages,
        clients=args.clients,
        per_connection=args.per_connection,
        size=args.size,
        worker_processes=args.worker_processes,
        worker_threads=args.worker_threads,
        timeout=args.timeout,
        keep=args.keep,
    )


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


# -- external services ---------------------------------------------------------------------------


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


# -- the platform --------------------------------------------------------------------------------


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


def stop_roles(roles: list[RoleProcess]) -> list[tuple[RoleProcess, int]]:
    """SIGTERM every role at once, then wait (each is killed after 20 s); their exit codes."""
    for role in roles:
        if role.process.poll() is None:
            role.process.send_signal(signal.SIGTERM)
    return [(role, role.stop(timeout=20.0)) for role in roles]


# -- the clients ---------------------------------------------------------------------------------


def build_message(number: int, size: int) -> bytes:
    """A text message of about `size` bytes (at least its headers) carrying `X-Bench-Id`."""
    headers = (
        "From: Bench <app@shop.example>\r\n"
        f"To: user{number}@{RECIPIENT_DOMAIN}\r\n"
        f"Subject: Bench message {number}\r\n"
        f"Date: {formatdate()}\r\n"
        f"Message-ID: <bench-{number}-{uuid.uuid4().hex[:12]}@{SENDER_DOMAIN}>\r\n"
        f"X-Bench-Id: {number}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs\r\n"
    remaining = max(0, size - len(headers))
    body = line * (remaining // len(line))
    rest = remaining - len(body)
    if rest >= 2:
        body += b"x" * (rest - 2) + b"\r\n"
    return headers + body


@dataclass
class Sent:
    """One message as the client saw it."""

    number: int
    started: float  # before MAIL FROM
    accepted: float | None = None  # when DATA got its 250
    error: str | None = None
    refused: bool = False  # the server answered with an error (else: the connection failed)


class Driver:
    """C client threads sharing one counter of message numbers."""

    def __init__(self, options: Options, port: int, account: Account) -> None:
        self.options = options
        self.port = port
        self.account = account
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.sent: list[Sent] = []

    def _next(self) -> int | None:
        with self._lock:
            number = next(self._numbers)
        return number if number < self.options.messages else None

    def _record(self, item: Sent) -> None:
        with self._lock:
            self.sent.append(item)

    def _connect(self) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="bench.client", timeout=120)
        assert client.sock is not None
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.ehlo()
        if self.account.route_address is None:
            client.login(self.account.username, self.account.key)
        return client

    def _api_client(self) -> None:
        """Submission through /api/v1/send/message, `per_connection` requests per HTTP connection."""
        number = self._next()
        while number is not None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                for _ in range(self.options.per_connection):
                    if number is None:
                        break
                    usable = self._post(connection, number)
                    number = self._next()
                    if not usable:
                        break
            finally:
                connection.close()

    def _post(self, connection: http.client.HTTPConnection, number: int) -> bool:
        body = json.dumps(
            {
                "to": [f"user{number}@{RECIPIENT_DOMAIN}"],
                "from": f"Bench <app@{SENDER_DOMAIN}>",
                "subject": f"Bench message {number}",
                "plain_body": build_message(number, self.options.size).partition(b"\r\n\r\n")[2].decode(),
                "headers": {"X-Bench-Id": str(number)},
            }
        ).encode()
        headers = {"Content-Type": "application/json", "X-Server-API-Key": str(self.account.api_key)}
        item = Sent(number, time.monotonic())
        usable = True
        try:
            connection.request("POST", "/api/v1/send/message", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            item.error = f"{type(exc).__name__}: {exc}"
            usable = False
        else:
            if answer.get("status") == "success":
                item.accepted = time.monotonic()
            else:
                item.error = f"{response.status} {answer.get('status')}: {answer.get('data')}"
                item.refused = True
        self._record(item)
        return usable

    def _client(self) -> None:
        if self.options.via == "api":
            self._api_client()
            return
        number = self._next()
        while number is not None:
            try:
                client = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self._record(Sent(number, time.monotonic(), error=f"connect: {exc}", refused=False))
                number = self._next()
                continue
            try:
                for _ in range(self.options.per_connection):
                    if number is None:
                        break
                    usable = self._send(client, number)
                    number = self._next()
                    if not usable:
                        break
            finally:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    client.quit()

    def _send(self, client: smtplib.SMTP, number: int) -> bool:
        """Send one message; False when the connection is no longer usable."""
        message = build_message(number, self.options.size)
        item = Sent(number, time.monotonic())
        usable = True
        try:
            if self.account.route_address is None:
                refused = client.sendmail(f"app@{SENDER_DOMAIN}", [f"user{number}@{RECIPIENT_DOMAIN}"], message)
            else:
                refused = client.sendmail(f"user{number}@{RECIPIENT_DOMAIN}", [self.account.route_address], message)
        except smtplib.SMTPRecipientsRefused as exc:
            item.error = f"refused: {exc.recipients}"
            item.refused = True
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            item.error = f"{exc.smtp_code} {text}"
            item.refused = True
        except (OSError, smtplib.SMTPException) as exc:
            item.error = f"{type(exc).__name__}: {exc}"
            usable = False
        else:
            item.accepted = time.monotonic()
            if refused:
                item.error = f"refused: {refused}"
                item.refused = True
        self._record(item)
        return usable

    def run(self) -> None:
        threads = [
            threading.Thread(target=self._client, name=f"bench-client-{n}", daemon=True)
            for n in range(self.options.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    sent: int
    accepted: int
    refused: int
    failed: int
    delivered: int
    duplicates: int
    accept_seconds: float
    deliver_seconds: float | None
    delivered_during_submission: int
    latencies_ms: list[float]
    errors: dict[str, int]

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.accept_seconds if self.accept_seconds > 0 else 0.0

    @property
    def delivered_per_second(self) -> float:
        if not self.deliver_seconds:
            return 0.0
        return self.delivered / self.deliver_seconds

    def percentile(self, q: int) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


def measure(driver: Driver, received_at: dict[int, float], duplicates: int) -> Result:
    sent = driver.sent
    accepted = [s for s in sent if s.accepted is not None and s.error is None]
    first_mail = min(s.started for s in sent)
    last_accept = max((s.accepted for s in accepted if s.accepted is not None), default=first_mail)
    arrivals = [received_at[s.number] for s in accepted if s.number in received_at]
    latencies = sorted(
        (received_at[s.number] - s.accepted) * 1000
        for s in accepted
        if s.number in received_at and s.accepted is not None
    )
    errors: dict[str, int] = {}
    for s in sent:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return Result(
        sent=len(sent),
        accepted=len(accepted),
        refused=sum(1 for s in sent if s.error is not None and s.refused),
        failed=sum(1 for s in sent if s.error is not None and not s.refused),
        delivered=len(arrivals),
        duplicates=duplicates,
        accept_seconds=last_accept - first_mail,
        deliver_seconds=(max(arrivals) - first_mail) if arrivals else None,
        delivered_during_submission=sum(1 for t in arrivals if t <= last_accept),
        latencies_ms=latencies,
        errors=errors,
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def report(options: Options, result: Result) -> str:
    """Print the figures; returns the one-line summary."""
    p50, p99 = result.percentile(50), result.percentile(99)
    print()
    print(f"sent:       {result.sent} messages by {options.clients} clients")
    print(f"accepted:   {result.accepted} in {result.accept_seconds:.2f} s ({result.accepted_per_second:.1f}/s)")
    print(f"refused:    {result.refused} (an SMTP error reply)")
    print(f"failed:     {result.failed} (connection errors)")
    for error, count in sorted(result.errors.items(), key=lambda e: -e[1])[:10]:
        print(f"            {count} × {error}")
    if result.deliver_seconds is not None:
        print(
            f"delivered:  {result.delivered} of {result.accepted} in {result.deliver_seconds:.2f} s "
            f"({result.delivered_per_second:.1f}/s); {result.delivered_during_submission} while submitting"
        )
    else:
        print(f"delivered:  0 of {result.accepted}")
    if result.duplicates:
        print(f"duplicates: {result.duplicates} messages reached the sink more than once")
    if result.latencies_ms:
        print(
            f"latency:    p50 {_ms(p50)} ms, p99 {_ms(p99)} ms, max {result.latencies_ms[-1]:.0f} ms "
            "(accepted → at the sink)"
        )
    summary = (
        f"backend={options.backend} direction={options.direction} via={options.via} "
        f"messages={options.messages} clients={options.clients} "
        f"per-connection={options.per_connection} size={options.size} "
    )
    if options.backend == "mariadb":
        summary += f"worker-processes={options.worker_processes} "
    summary += (
        f"worker-threads={options.worker_threads} "
        f"accepted/s={result.accepted_per_second:.1f} delivered/s={result.delivered_per_second:.1f} "
        f"p50={_ms(p50)}ms p99={_ms(p99)}ms"
    )
    if result.refused:
        summary += f" refused={result.refused}"
    if result.failed:
        summary += f" failed={result.failed}"
    if result.delivered < result.accepted:
        summary += f" delivered={result.delivered}/{result.accepted}"
    if result.duplicates:
        summary += f" duplicates={result.duplicates}"
    return summary


def report_cpu(before: cpu.Sample, after: cpu.Sample, messages: int) -> float | None:
    """Print the CPU time each process used per delivered message; the machine's busy percentage."""
    used, busy, total = cpu.usage(before, after)
    if total <= 0:
        return None
    known = sum(used.values())
    parts = [
        f"{label} {seconds * 1000 / messages:.1f}"
        for label, seconds in used.items()
        if label not in cpu.SERVICES.values() or seconds * 1000 / messages >= 0.05
    ]
    parts.append(f"everything else {max(0.0, busy - known) * 1000 / messages:.1f}")
    print(f"cpu:        ms per message: {', '.join(parts)}")
    percent = 100 * busy / total
    cores = os.cpu_count() or 1
    print(f"            the machine was {percent:.0f}% busy ({cores} cores) from first MAIL to last arrival")
    return percent


# -- the run -------------------------------------------------------------------------------------


@contextlib.contextmanager
def fakes() -> Iterator[tuple[DNSServer, TimingSink]]:
    dns_server = DNSServer().start()
    sink = TimingSink().start()
    assert isinstance(sink, TimingSink)
    try:
        dns_server.zone.mail_domain(RECIPIENT_DOMAIN)
        yield dns_server, sink
    finally:
        sink.stop()
        dns_server.stop()


def run(options: Options) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="postal-bench-"))
    env = Environment(workdir)
    outcome = Outcome()
    try:
        with fakes() as (dns_server, sink):
            if options.backend == "mariadb":
                create_vhost(env)
            smtp_port, web_port = free_port(), free_port()
            data = config_data(options, env, dns_server.port, sink.port, smtp_port, web_port)
            env.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
            print(f"backend {options.backend}: working in {workdir}", flush=True)
            background = cpu.busy_percent(2.0)
            if background is not None:
                print(f"the machine is {background:.0f}% busy before the platform starts", flush=True)

            started = time.monotonic()
            account = provision(env.config_file, options.direction, sink.port, options.via)
            print(f"provisioned {account.username} in {time.monotonic() - started:.1f} s", flush=True)

            roles = start_roles(options, env.config_file)
            try:
                drive(options, roles, smtp_port, account, sink, outcome, web_port)
                if background is not None:
                    outcome.summary += f" background-cpu={background:.0f}%"
            finally:
                # The platform stops while the sink still answers, so in-flight deliveries finish.
                for role, code in stop_roles(roles):
                    if code != 0:
                        outcome.ok = False
                        print(f"{role.log_path.name} exited with {code}", file=sys.stderr)
                errors = log_errors(roles)
                if errors.records or errors.exceptions:
                    outcome.ok = False
                    outcome.summary += f" logged-errors={errors.records}"
                    print(f"the platform logged {errors.records} errors; exceptions:", file=sys.stderr)
                    for line, count in errors.exceptions.most_common(10):
                        print(f"  {count} × {line}", file=sys.stderr)
                if not outcome.ok:
                    print("logs:", *(str(role.log_path) for role in roles), sep="\n  ", file=sys.stderr)
    except BenchFailed as exc:
        outcome.ok = False
        print(f"error: {exc}", file=sys.stderr)
    finally:
        cleanup(options, env, keep_files=options.keep or not outcome.ok)
    if outcome.summary:
        print()
        print(outcome.summary)
    return 0 if outcome.ok else 1


@dataclass
class Outcome:
    ok: bool = False
    summary: str = ""


def drive(
    options: Options,
    roles: list[RoleProcess],
    smtp_port: int,
    account: Account,
    sink: TimingSink,
    outcome: Outcome,
    web_port: int = 0,
) -> None:
    """Wait for the platform, send every message, wait for the sink and report."""
    try:
        wait_for_port(smtp_port, roles[0].process, timeout=60)
        if options.via == "api":
            wait_for_port(web_port, roles[-1].process, timeout=60)
    except (RuntimeError, TimeoutError) as exc:
        raise BenchFailed(f"the platform did not start: {exc}") from exc
    for role in roles:
        if role.process.poll() is not None:
            raise BenchFailed(f"{role.log_path.name} exited with {role.process.returncode}")
    print(
        f"platform up ({', '.join(r.log_path.stem for r in roles)}); sending {options.messages} "
        f"messages of {options.size} bytes with {options.clients} clients, "
        f"{options.per_connection} per connection",
        flush=True,
    )
    trees = {role.log_path.stem: role.process.pid for role in roles}
    driver = Driver(options, web_port if options.via == "api" else smtp_port, account)
    cpu_before = cpu.sample(trees)
    driver.run()
    accepted_ids = {s.number for s in driver.sent if s.accepted is not None and s.error is None}
    print(f"submission done: {len(accepted_ids)} accepted; waiting for the sink", flush=True)
    arrived = sink.handler.wait_for_ids(accepted_ids, options.timeout)
    cpu_after = cpu.sample(trees)
    if arrived < len(accepted_ids):
        print(f"timed out after {options.timeout:.0f} s: {arrived} of {len(accepted_ids)} arrived")
    # Give late duplicates a moment to show up before counting them.
    time.sleep(1.0)
    result = measure(driver, sink.handler.snapshot(), sink.handler.duplicates)
    outcome.summary = report(options, result)
    busy = report_cpu(cpu_before, cpu_after, max(1, result.delivered))
    if busy is not None:
        outcome.summary += f" machine-cpu={busy:.0f}%"
    outcome.ok = result.refused == 0 and result.failed == 0 and arrived == len(accepted_ids) and result.accepted > 0


def cleanup(options: Options, env: Environment, keep_files: bool) -> None:
    if options.keep:
        print(f"kept: {env.workdir}" + (f", vhost {env.vhost}" if env.vhost else ""))
        if env.databases:
            print(f"kept databases: {', '.join(env.databases)}")
        return
    try:
        drop_databases(env.databases)
    except Exception as exc:
        print(f"could not drop the databases {env.databases}: {exc}", file=sys.stderr)
    delete_vhost(env)
    if keep_files:
        print(f"kept {env.workdir} for its logs", file=sys.stderr)
    else:
        shutil.rmtree(env.workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
