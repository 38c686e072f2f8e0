"""`postal smtp-server` stops once on TERM, and signals that arrive while it shuts down (the
health server and the database pools close after the event loop) are logged, not fatal: a process
manager or an operator that sends TERM twice does not kill it halfway."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import Backend, config_data_for, merge, postal_command, run_cli
from tests.support.dns_server import DNSServer
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink


def test_terms_during_shutdown_do_not_kill_the_smtp_server(
    services_backend: Backend, dns_server: DNSServer, smtp_sink: SMTPSink, tmp_path: Path
) -> None:
    smtp_port, health_port = free_port(), free_port()
    data: dict[str, Any] = merge(
        config_data_for(services_backend, dns_server, smtp_sink),
        {
            "smtp_server": {
                "default_port": smtp_port,
                "default_bind_address": "127.0.0.1",
                "default_health_server_port": health_port,
            }
        },
    )
    config_file = tmp_path / "postal.yml"
    config_file.write_text(yaml.safe_dump({"version": 2, **data}))
    run_cli("initialize", config_file=config_file)
    role = RoleProcess([*postal_command(), "smtp-server"], config_file, tmp_path / "smtp-server.log")
    try:
        wait_for_port(smtp_port, role.process)
        wait_for_port(health_port, role.process)
        # TERM, then TERM again every 10 ms until it has exited: some arrive after the event loop
        # has closed, while the health server and the pools shut down.
        sent = 0
        deadline = time.monotonic() + 30
        while role.process.poll() is None and time.monotonic() < deadline:
            role.process.send_signal(signal.SIGTERM)
            sent += 1
            time.sleep(0.01)
        assert role.process.wait(10) == 0, role.output()
        assert sent > 1
        # It stopped once; the TERMs after the first were logged (or, at the very end, ignored).
        assert role.output().count("SMTP server stopping") == 1
    finally:
        role.stop()
