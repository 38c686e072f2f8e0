"""The process roles: web-server, smtp-server, worker, scheduler, and `run` (all of them at once)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from typing import Any

from cli.common import config_from
from cli.setup import ensure_signing_key
from core import metrics
from core.broker import Publisher, create_broker
from core.config import Config
from core.errors import PostalError
from core.health_server import start_health_server
from core.installation import count_users, initialize_database
from core.logs import setup_logging
from core.migrations import main_is_current
from core.runtime import Runtime
from core.tenancy.users import create_user
from core.tokens import random_string

log = logging.getLogger(__name__)


def _listen(config: Config, section: str, args: argparse.Namespace) -> tuple[str, int]:
    """Bind address and port: the option, else `PORT`/`BIND_ADDRESS` (Postal's per-instance
    override), else the configuration."""
    settings = getattr(config, section)
    port = args.port or int(os.environ.get("PORT") or settings.default_port)
    host = args.bind or os.environ.get("BIND_ADDRESS") or settings.default_bind_address
    return host, port


def _health(config: Config, section: str) -> tuple[str, int]:
    """Where the health server of a role listens: `HEALTH_SERVER_PORT`/`HEALTH_SERVER_BIND_ADDRESS`
    (Postal v3's per-process override), else the section's `default_health_server_*`."""
    settings = getattr(config, section)
    port = int(os.environ.get("HEALTH_SERVER_PORT") or settings.default_health_server_port)
    host = os.environ.get("HEALTH_SERVER_BIND_ADDRESS") or settings.default_health_server_bind_address
    return host, port


def _checked_runtime(config: Config, allow_embedded: bool) -> Runtime:
    broker = create_broker(config, allow_embedded=allow_embedded)
    runtime = Runtime.create(config, Publisher(broker))
    if not main_is_current(runtime.db.engine):
        raise PostalError("The database schema is missing or out of date: run `postal initialize` first")
    return runtime


def web_server(args: argparse.Namespace) -> int:
    config = config_from(args)
    setup_logging(config)
    create_broker(config, allow_embedded=False)
    host, port = _listen(config, "web_server", args)
    from web.app import create_app
    from web.server import run_gunicorn

    def app_factory() -> Any:
        # Built inside each gunicorn worker, after the fork: connections are never shared.
        return create_app(_checked_runtime(config, allow_embedded=False))

    run_gunicorn(app_factory, host, port, threads=config.web_server.max_threads)
    return 0


def smtp_server(args: argparse.Namespace) -> int:
    config = config_from(args)
    setup_logging(config)
    runtime = _checked_runtime(config, allow_embedded=False)
    host, port = _listen(config, "smtp_server", args)
    from smtp.server import run_smtp_server

    health = start_health_server("smtp-server", *_health(config, "smtp_server"), metrics.process_registry())
    run_smtp_server(runtime, host, port)
    if health is not None:
        health.stop()
    runtime.close()
    # Done: the interpreter's exit gives Python-level handlers their default action back, so a
    # TERM arriving now would turn a clean exit into "killed by TERM".
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    return 0


def worker(args: argparse.Namespace) -> int:
    config = config_from(args)
    setup_logging(config)
    create_broker(config, allow_embedded=False)
    from actors.worker import run_workers

    run_workers(
        config,
        args.queues,
        max(1, args.processes),
        args.threads or config.worker.threads,
        health=_health(config, "worker"),
    )
    return 0


def scheduler(args: argparse.Namespace) -> int:
    config = config_from(args)
    setup_logging(config)
    runtime = _checked_runtime(config, allow_embedded=False)
    from scheduler.app import Scheduler

    sched = Scheduler(runtime)
    sched.start()
    _wait_for_signal()
    sched.stop()
    runtime.close()
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _first_start(config: Config, runtime: Runtime, web_url: str) -> None:
    """On an empty installation: create an administrator and say how to go on."""
    if count_users(runtime.db) > 0:
        return
    email = f"admin@{config.postal.web_hostname}"
    password = random_string(16)
    with runtime.db.transaction() as session:
        create_user(session, email, password, "Admin", "", admin=True)
    # Show the command the way it was started (`.venv/bin/postal` from the set-up script).
    cli = os.path.relpath(sys.argv[0]) if os.path.basename(sys.argv[0]) == "postal" else "postal"
    steps = [
        f"{cli} org create 'My Company' --permalink my-company",
        f"{cli} server create my-company 'Main' --permalink main",
        f"{cli} domain add my-company/main example.com",
        f"{cli} domain dns example.com      # publish these records, then:",
        f"{cli} domain verify example.com   # (or add the domain with --verified)",
        f"{cli} credential create my-company/main --type SMTP",
    ]
    print(
        "\n".join(
            [
                "",
                "Postal is set up for the first time.",
                f"  Data directory:  {config.data_dir.resolve()}",
                f"  Web UI:          {web_url}",
                f"  Administrator:   {email}",
                f"  Password:        {password}   (shown only now)",
                "",
                "Log in to the web UI to create an organization, a mail server, its domains and credentials;",
                f"or do the same from the command line (in another terminal, in {os.getcwd()}):",
                *(f"  {step}" for step in steps),
                "Then send mail through SMTP with that credential as the password, and follow it with",
                f"  {cli} message show my-company/main 1",
                "",
            ]
        ),
        flush=True,
    )


def _url_host(bind_address: str) -> str:
    """A host a browser can open for a bind address: the wildcard ones mean this machine."""
    if bind_address in ("0.0.0.0", "", "::"):  # noqa: S104 (reading a bind address, not binding)
        return "127.0.0.1"
    return f"[{bind_address}]" if ":" in bind_address else bind_address


def run_all(args: argparse.Namespace) -> int:
    """Every role in one process: SMTP, worker threads, scheduler and web, over the configured
    databases and queue (SQLite and an in-process queue by default)."""
    config = config_from(args)
    setup_logging(config)
    if not config.embedded_database or not (config.data_dir / "postal.sqlite3").exists():
        log.info("preparing the database")
    initialize_database(config).dispose()
    ensure_signing_key(config)

    broker = create_broker(config, allow_embedded=True)
    runtime = Runtime.create(config, Publisher(broker))
    web_host = config.web_server.default_bind_address
    web_port = config.web_server.default_port
    _first_start(config, runtime, f"http://{_url_host(web_host)}:{web_port}/")

    from actors.worker import start_worker
    from scheduler.app import Scheduler
    from smtp.server import start_smtp_server
    from web.app import create_app
    from web.server import start_threaded

    # One combined endpoint for every role in the process, on the worker's health port.
    health = start_health_server("run", *_health(config, "worker"), metrics.process_registry(runtime.db.engine))
    threads = config.worker.threads
    worker_, pool_watcher = start_worker(broker, runtime, None, threads)
    sched = Scheduler(runtime)
    sched.start(restarted_in_process=True)

    smtp_host = (
        config.smtp_server.default_bind_address if config.is_set("smtp_server.default_bind_address") else "127.0.0.1"
    )
    smtp_port = config.smtp_server.default_port if config.is_set("smtp_server.default_port") else 2525

    loop = asyncio.new_event_loop()
    smtp_ready = threading.Event()
    smtp_started: list[Any] = []

    def smtp_thread() -> None:
        asyncio.set_event_loop(loop)
        try:
            smtp_started.append(
                loop.run_until_complete(
                    start_smtp_server(
                        runtime, smtp_host, smtp_port, implicit_tls_port=config.smtp_implicit_tls_port or None
                    )
                )
            )
        except BaseException as exc:
            smtp_started.append(exc)
            return
        finally:
            smtp_ready.set()
        loop.run_forever()

    thread = threading.Thread(target=smtp_thread, name="smtp", daemon=True)
    thread.start()
    smtp_ready.wait()
    if isinstance(smtp_started[0], BaseException):
        raise PostalError(f"The SMTP server cannot listen on {smtp_host}:{smtp_port}: {smtp_started[0]}")
    smtp_service = smtp_started[0]
    web = start_threaded(create_app(runtime), web_host, web_port, config)
    print(
        f"Postal is running: web http://{_url_host(web_host)}:{web_port}/  SMTP {smtp_host}:{smtp_port}"
        "  (Ctrl-C stops it)",
        flush=True,
    )

    _wait_for_signal()
    log.info("stopping")
    asyncio.run_coroutine_threadsafe(smtp_service.close(), loop).result(timeout=40)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    web.shutdown()
    sched.stop()
    pool_watcher.set()
    worker_.stop()
    if health is not None:
        health.stop()
    runtime.close()
    return 0
