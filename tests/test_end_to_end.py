"""The path a new user walks: provision with the CLI, send by SMTP, see it at the MX, see `Sent`.

Runs on the embedded default (`postal run`: SQLite + in-process queue) and on MariaDB +
RabbitMQ with `postal smtp-server`, `postal worker` and `postal scheduler` as separate processes.
"""

from __future__ import annotations

import base64
import json
import smtplib
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.conftest import Backend, merge, postal_command, run_cli
from tests.support.dns_server import Zone
from tests.support.http_receiver import HTTPReceiver
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink


def _json(result: Any) -> dict[str, Any]:
    return json.loads(result.stdout)


def test_message_sent_by_smtp_arrives_at_the_mx_and_reports_sent(
    backend: Backend, config_data: dict[str, Any], smtp_sink: SMTPSink, zone: Zone, tmp_path: Path
) -> None:
    receiver = HTTPReceiver().start()
    # Given a configuration with its own ports, an initialized database and a provisioned server
    smtp_port, web_port = free_port(), free_port()
    config_file = tmp_path / "postal.yml"
    data = merge(
        config_data,
        {
            "smtp_server": {"default_port": smtp_port, "default_bind_address": "127.0.0.1"},
            "web_server": {"default_port": web_port},
        },
    )
    config_file.write_text(yaml.safe_dump({"version": 2, **data}))
    run_cli("initialize", config_file=config_file)
    org = _json(run_cli("org", "create", "ACME Inc", "--json", config_file=config_file))
    server = _json(run_cli("server", "create", org["permalink"], "Main", "--json", config_file=config_file))
    ref = f"{org['permalink']}/{server['permalink']}"
    domain = _json(run_cli("domain", "add", ref, "example.com", "--json", config_file=config_file))
    verification = next(r for r in domain["dns_records"] if r["purpose"] == "verification")
    zone.set("example.com", "TXT", verification["value"])
    run_cli("domain", "verify", "example.com", config_file=config_file)
    credential = _json(run_cli("credential", "create", ref, "--type", "SMTP", "--json", config_file=config_file))
    zone.mail_domain("example.net")
    run_cli("webhook", "create", ref, receiver.url, "--event", "MessageSent", config_file=config_file)

    # And the platform running: every role in one process, or each role in a process of its own
    if backend.external:
        roles = [
            RoleProcess([*postal_command(), role], config_file, tmp_path / f"{role}.log")
            for role in ("smtp-server", "worker", "scheduler", "web-server")
        ]
    else:
        roles = [RoleProcess([*postal_command(), "run"], config_file, tmp_path / "run.log")]
    try:
        wait_for_port(smtp_port, roles[0].process)
        wait_for_port(web_port, roles[-1].process)
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/health", timeout=10) as response:
            assert (response.status, response.read()) == (200, b"OK")

        # When an application sends a message through SMTP with the credential
        message = EmailMessage()
        message["From"] = "Shop <orders@example.com>"
        message["To"] = "customer@example.net"
        message["Subject"] = "Your order"
        message.set_content("It has shipped.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.login(ref, credential["key"])
            refused = client.send_message(message)
        assert refused == {}

        # Then the MX the DNS points to receives it
        received = smtp_sink.wait_for(1, timeout=60)[0]
        assert received.rcpt_tos == ["customer@example.net"]
        assert received.mail_from.startswith(f"{server['token']}+")
        assert received.mail_from.endswith("@rp.postal.test")
        assert b"Subject: Your order" in received.data
        assert b"It has shipped." in received.data

        # And `postal message show` reports it sent, with the delivery attempt
        shown = _wait_for_status(ref, config_file, "Sent")
        assert shown["details"]["rcpt_to"] == "customer@example.net"
        assert shown["details"]["mail_from"] == "orders@example.com"
        assert shown["deliveries"][-1]["status"] == "Sent"
        assert "accepted by 127.0.0.1:" in shown["deliveries"][-1]["details"]
        assert shown["queue"] is None

        # And the webhook, delivered by a worker, says so, signed with the installation key
        [request] = receiver.wait_for(1, timeout=30)
        body = json.loads(request.body)
        assert body["event"] == "MessageSent" and body["payload"]["message"]["token"] == shown["token"]
        signature = base64.b64decode(request.headers["X-Postal-Signature-256"])
        key = load_pem_private_key((tmp_path / "signing.key").read_bytes(), password=None)
        key.public_key().verify(signature, request.body, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]
    except BaseException:
        for role in roles:
            role.stop()
            print(f"--- {role.log_path.name} ---\n{role.output()}")
        raise
    receiver.stop()
    for role in roles:
        assert role.stop() == 0, role.output()
    if not backend.external:
        # The first start of an installation without users creates an administrator.
        output = roles[0].output()
        assert "Postal is set up for the first time." in output
        assert "Administrator:   admin@postal.test" in output


def _wait_for_status(ref: str, config_file: Path, status: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = _json(run_cli("message", "show", ref, "1", "--json", config_file=config_file))
        if shown["status"]["status"] == status or time.monotonic() > deadline:
            assert shown["status"]["status"] == status, shown
            return shown
        time.sleep(0.5)
