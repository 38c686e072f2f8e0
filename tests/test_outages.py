"""Faults under load, with real processes and real services: RabbitMQ or MariaDB gone for 30
seconds, and `kill -9` of the SMTP server and of the scheduler. A steady load keeps sending
through each fault; afterwards every message that was answered `250` has reached the MX, and
none twice, except that a delivery whose outcome could not be recorded because the database went
away at that moment is repeated (at most one per delivery thread).

The services are taken away through TCP proxies (`tests.support.fault_proxy`) that reset every
connection and refuse new ones, as a stopped server does, so only this test's processes see the
outage and the rest of the suite goes on using MariaDB and RabbitMQ."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Backend, config_data_for
from tests.support.dns_server import DNSServer
from tests.support.fault_platform import Ledger, Load, Platform, wait_for_delivery
from tests.support.smtp_sink import SMTPSink

OUTAGE_SECONDS = 30
WORKER_THREADS = 4  # `worker.threads` of the platform under test
# After the fault ends, everything accepted must arrive within this (requeuer runs every few seconds).
CATCH_UP_SECONDS = 120


@pytest.fixture
def platform(
    services_backend: Backend, dns_server: DNSServer, smtp_sink: SMTPSink, zone: Any, tmp_path: Path
) -> Iterator[Platform]:
    zone.mail_domain("example.net")
    running = Platform(config_data_for(services_backend, dns_server, smtp_sink), tmp_path, web=True)
    try:
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.stop()


def check_everything_accepted_arrives_once(
    ledger: Ledger, sink: SMTPSink, platform: Platform, in_flight: int = 0
) -> None:
    """`in_flight`: how many deliveries the fault may repeat (at most one per delivery thread)."""
    assert ledger.accepted, "the load sent nothing"
    counts = wait_for_delivery(sink, ledger.accepted, CATCH_UP_SECONDS)
    missing = ledger.accepted - set(counts)
    assert not missing, f"{len(missing)} accepted messages never arrived: {sorted(missing)[:20]}\n{platform.logs()}"
    twice = {n: c for n, c in counts.items() if c > 1}
    assert sum(counts.values()) - len(counts) <= in_flight, f"delivered more than once: {twice}"
    # A message whose reply was lost may or may not have been stored, but if it arrived, once.
    assert set(counts) <= ledger.accepted | ledger.unknown


def api_v1_send(platform: Platform, key: str) -> dict[str, Any]:
    body = json.dumps(
        {"to": ["api@example.net"], "from": "orders@example.com", "subject": "API", "plain_body": "Hello"}
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{platform.web_port}/api/v1/send/message",
        data=body,
        headers={"X-Server-API-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def api_v2_status(platform: Platform) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{platform.web_port}/api/v2/organizations/acme/servers/main/messages",
        headers={"Authorization": f"Bearer {platform.admin_token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_rabbitmq_down_for_30_seconds_loses_nothing_and_smtp_keeps_accepting(
    platform: Platform, smtp_sink: SMTPSink
) -> None:
    smtp_key, _ = platform.provision()
    platform.start()
    load = Load(platform.smtp_port, smtp_key).start()
    time.sleep(3)
    platform.mq_proxy.cut()
    down_from = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    platform.mq_proxy.restore()
    up_from = time.monotonic()
    time.sleep(5)
    ledger = load.stop()
    during = [n for n, at in ledger.accepted_at.items() if down_from < at < up_from]
    assert len(during) > 20, "the SMTP server stopped accepting while the broker was down"
    assert not ledger.refused, f"refused while the broker was down: {ledger.refused}"
    check_everything_accepted_arrives_once(ledger, smtp_sink, platform)


def test_mariadb_unreachable_for_30_seconds_answers_4xx_and_loses_nothing(
    platform: Platform, smtp_sink: SMTPSink
) -> None:
    smtp_key, api_key = platform.provision()
    platform.start()
    assert api_v1_send(platform, api_key)["status"] == "success"
    assert api_v2_status(platform) == 200
    load = Load(platform.smtp_port, smtp_key).start()
    time.sleep(3)
    platform.db_proxy.cut()
    down_from = time.monotonic()
    time.sleep(2)
    # While it is down: the APIs say "try again", and nothing is half-accepted.
    answer = api_v1_send(platform, api_key)
    assert answer["status"] == "error" and answer["data"]["code"] == "TemporaryError", answer
    assert api_v2_status(platform) == 503
    time.sleep(OUTAGE_SECONDS - 2)
    platform.db_proxy.restore()
    up_from = time.monotonic()
    time.sleep(8)
    ledger = load.stop()
    # Every refusal was a temporary one (the client keeps the message and tries again later).
    assert ledger.refused and all(400 <= code < 500 for code in ledger.refused.values()), ledger.refused
    accepted_during = [n for n, at in ledger.accepted_at.items() if down_from + 1 < at < up_from]
    assert not accepted_during, f"accepted while the database was unreachable: {accepted_during}"
    # The roles reconnected by themselves: accepted again once it was back.
    assert any(at > up_from for at in ledger.accepted_at.values()), "nothing was accepted after the outage"
    assert api_v1_send(platform, api_key)["status"] == "success"
    # A delivery whose 250 arrived as the database went away could not be recorded: it is sent
    # again once the database is back, at most one per delivery thread.
    check_everything_accepted_arrives_once(ledger, smtp_sink, platform, in_flight=WORKER_THREADS)


def test_kill_9_of_the_smtp_server_and_of_the_scheduler_loses_nothing(platform: Platform, smtp_sink: SMTPSink) -> None:
    seed = random.randrange(1_000_000)
    chance = random.Random(seed)
    print(f"kill points from seed {seed}")
    smtp_key, _ = platform.provision()
    platform.start()
    load = Load(platform.smtp_port, smtp_key, clients=4, pause=0.01).start()
    for role in ("smtp-server", "scheduler", "smtp-server"):
        # Each kill lands at a random moment once mail is flowing (counted, not timed: a busy
        # machine is slower, not wrong).
        load.wait_for_accepted(len(load.ledger.accepted) + chance.randint(5, 30), timeout=120)
        platform.kill(role)
        time.sleep(chance.uniform(0.0, 1.0))
        platform.start(role)
    load.wait_for_accepted(len(load.ledger.accepted) + 10, timeout=120)
    ledger = load.stop()
    check_everything_accepted_arrives_once(ledger, smtp_sink, platform)
