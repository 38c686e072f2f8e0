"""The health and metrics endpoints of running roles, scraped while mail flows through them.

On MariaDB + RabbitMQ: `postal smtp-server`, `postal worker --processes 2` (one endpoint for the
group) and `postal web-server` as processes of their own. On SQLite the roles can only share one
process, `postal run`, which serves one combined endpoint. Every `/metrics` parses with
prometheus-client's parser and its counters move when a message is sent.
"""

from __future__ import annotations

import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Backend, merge, postal_command, run_cli
from tests.support.dns_server import Zone
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink


def fetch(port: int, path: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(port: int, path: str = "/metrics", token: str | None = None) -> dict[tuple[str, tuple[Any, ...]], float]:
    status, body = fetch(port, path, token)
    assert status == 200, body
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def value(samples: dict[tuple[str, tuple[Any, ...]], float], name: str, **labels: str) -> float:
    return sum(
        v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == x for k, x in labels.items())
    )


def eventually(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the metrics did not move"
        time.sleep(0.2)


def test_each_role_serves_metrics_that_move_when_mail_flows(
    backend: Backend,
    config_data: dict[str, Any],
    smtp_sink: SMTPSink,
    zone: Zone,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a configuration with its own ports: the SMTP server's health port from the
    # configuration, the worker's from HEALTH_SERVER_PORT (Postal's per-process override)
    smtp_port, web_port, smtp_health, worker_health = free_port(), free_port(), free_port(), free_port()
    data = merge(
        config_data,
        {
            "smtp_server": {
                "default_port": smtp_port,
                "default_bind_address": "127.0.0.1",
                "default_health_server_port": smtp_health,
            },
            "web_server": {"default_port": web_port},
            "logging": {"format": "json"},
        },
    )
    config_file = tmp_path / "postal.yml"
    config_file.write_text(yaml.safe_dump({"version": 2, **data}))
    run_cli("initialize", config_file=config_file)
    org = json.loads(run_cli("org", "create", "ACME Inc", "--json", config_file=config_file).stdout)
    server = json.loads(run_cli("server", "create", org["permalink"], "Main", "--json", config_file=config_file).stdout)
    ref = f"{org['permalink']}/{server['permalink']}"
    run_cli("domain", "add", ref, "example.com", "--verified", config_file=config_file)
    key = json.loads(run_cli("credential", "create", ref, "--type", "SMTP", "--json", config_file=config_file).stdout)
    run_cli("make-user", "--email", "ops@example.com", "--password", "a long password 1", "--first-name", "Ops",
            "--last-name", "Team", "--admin", config_file=config_file)  # fmt: skip
    token = json.loads(run_cli("user", "token", "create", "ops@example.com", "--json", config_file=config_file).stdout)
    run_cli("make-user", "--email", "dev@example.com", "--password", "a long password 2", "--first-name", "Dev",
            "--last-name", "Team", config_file=config_file)  # fmt: skip
    member = json.loads(run_cli("user", "token", "create", "dev@example.com", "--json", config_file=config_file).stdout)
    zone.mail_domain("example.net")

    # And the roles running (the environment variable set for the worker's process only)
    def start(name: str, *args: str, health: int | None = None) -> RoleProcess:
        if health is not None:
            monkeypatch.setenv("HEALTH_SERVER_PORT", str(health))
        try:
            return RoleProcess([*postal_command(), name, *args], config_file, tmp_path / f"{name}.log")
        finally:
            monkeypatch.delenv("HEALTH_SERVER_PORT", raising=False)

    if backend.external:
        roles = {
            "smtp-server": start("smtp-server"),
            "worker": start("worker", "--processes", "2", health=worker_health),
            "web-server": start("web-server"),
        }
        endpoints = {"smtp-server": smtp_health, "worker": worker_health}
    else:
        roles = {"run": start("run", health=worker_health)}
        endpoints = {"run": worker_health}
    try:
        for name, port in endpoints.items():
            wait_for_port(port, roles[name].process)
        wait_for_port(smtp_port)
        wait_for_port(web_port)
        for name, port in endpoints.items():
            assert fetch(port, "/health") == (200, "OK")
            assert fetch(port, "/")[1].startswith(f"{name} (pid: ")
            assert fetch(port, "/nothing") == (404, "Not Found")
        assert fetch(web_port, "/metrics")[0] == 401
        smtp_metrics = endpoints.get("smtp-server", worker_health)
        before_smtp, before_worker = scrape(smtp_metrics), scrape(worker_health)
        scrape(web_port, token=token["token"])

        # When a message is sent through SMTP and delivered
        message = EmailMessage()
        message["From"] = "Shop <orders@example.com>"
        message["To"] = "customer@example.net"
        message["Subject"] = "Scraped"
        message.set_content("Counted on the way.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.login(ref, key["key"])
            assert client.send_message(message) == {}
        smtp_sink.wait_for(1, timeout=60)

        # Then the SMTP server counted the connection and the message
        smtp_after = scrape(smtp_metrics)
        assert value(smtp_after, "postal_smtp_server_connections_total") > value(
            before_smtp, "postal_smtp_server_connections_total"
        )
        messages = "postal_smtp_server_messages_total"
        assert value(smtp_after, messages, type="outgoing", tls="no") == (
            value(before_smtp, messages, type="outgoing", tls="no") + 1
        )

        # And the worker's endpoint (summed over its processes) the job, the outcome, the latency
        def delivered() -> bool:
            now = scrape(worker_health)
            return value(now, "postal_delivery_outcomes_total", queue="outgoing", result="Sent") > value(
                before_worker, "postal_delivery_outcomes_total", queue="outgoing", result="Sent"
            )

        eventually(delivered)
        worker_after = scrape(worker_health)
        processed = "postal_queue_jobs_processed_total"

        def jobs_counted() -> bool:
            return value(scrape(worker_health), processed, queue="outgoing") > value(before_worker, processed)

        eventually(jobs_counted)
        assert value(worker_after, "postal_message_queue_latency_count") == (
            value(before_worker, "postal_message_queue_latency_count") + 1
        )
        assert value(worker_after, "postal_queued_messages", queue="outgoing", state="ready") == 0
        assert ("postal_webhook_requests_pending", (("state", "ready"),)) in worker_after

        # And the web process answers its administrators with metrics that parse
        web_after = scrape(web_port, token=token["token"])
        assert ("postal_webhook_requests_pending", (("state", "ready"),)) in web_after
        assert fetch(web_port, "/metrics", token="not-a-token")[0] == 401
        assert fetch(web_port, "/metrics", token=member["token"])[0] == 403
    except BaseException:
        for role in roles.values():
            role.stop()
            print(f"--- {role.log_path.name} ---\n{role.output()}")
        raise
    for role in roles.values():
        assert role.stop() == 0, role.output()
    # And their logs are JSON lines, the SMTP server's naming the message it accepted
    lines = [json.loads(line) for role in roles.values() for line in role.output().splitlines() if line.startswith("{")]
    accepted = [e for e in lines if e["logger"] == "smtp.handler" and e["message"].startswith("accepted")]
    assert accepted and accepted[0]["message_id"] == 1
