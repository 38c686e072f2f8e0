"""SMTP throughput: N messages through submission into a sink; accepted/s, delivered/s and latency."""

from __future__ import annotations

import contextlib
import functools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import cpu, postfix
from bench.driver import Driver
from bench.options import Options, parse_args
from bench.platform import (
    RECIPIENT_DOMAIN,
    Account,
    BenchFailed,
    Environment,
    config_data,
    create_vhost,
    delete_vhost,
    drop_databases,
    log_errors,
    provision,
    start_roles,
    stop_roles,
    wait_for_consumers,
)
from bench.results import Result, compare, send_and_measure
from bench.sink import TimingSink
from tests.support.dns_server import DNSServer
from tests.support.processes import RoleProcess, free_port, wait_for_port

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
    compared: postfix.PostfixRun | None = None
    try:
        if options.compare_postfix:
            postfix.ensure_installed()
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
                ready = None
                if options.backend == "mariadb":
                    queue = "incoming" if options.direction == "incoming" else "outgoing"
                    ready = functools.partial(wait_for_consumers, env, queue, options.worker_processes)
                drive(options, roles, smtp_port, account, sink, outcome, web_port, ready)
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
        if options.compare_postfix:
            # The same clients and messages, to a private Postfix relaying to a fresh sink.
            compared = postfix.run_postfix(options, workdir / "postfix")
    except BenchFailed as exc:
        outcome.ok = False
        print(f"error: {exc}", file=sys.stderr)
    finally:
        both_ok = outcome.ok and (compared is not None and compared.ok if options.compare_postfix else True)
        cleanup(options, env, keep_files=options.keep or not both_ok)
    if outcome.summary:
        print()
        print(outcome.summary)
    if compared is not None:
        print(compared.summary)
        if outcome.result is not None:
            print(compare(options, outcome.result, compared.result))
    if options.compare_postfix and (compared is None or not compared.ok):
        return 1
    return 0 if outcome.ok else 1


@dataclass
class Outcome:
    ok: bool = False
    summary: str = ""
    result: Result | None = None


def drive(
    options: Options,
    roles: list[RoleProcess],
    smtp_port: int,
    account: Account,
    sink: TimingSink,
    outcome: Outcome,
    web_port: int = 0,
    workers_ready: Callable[[], None] | None = None,
) -> None:
    """Wait for the platform, send every message, wait for the sink and report."""
    try:
        wait_for_port(smtp_port, roles[0].process, timeout=60)
        if options.via == "api":
            wait_for_port(web_port, roles[-1].process, timeout=60)
    except (RuntimeError, TimeoutError) as exc:
        raise BenchFailed(f"the platform did not start: {exc}") from exc
    if workers_ready is not None:
        workers_ready()
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
    measured = send_and_measure(options, driver, sink.handler, trees)
    outcome.summary, outcome.ok, outcome.result = measured.summary, measured.ok, measured.result


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
