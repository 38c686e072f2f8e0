"""The health server over a real socket: Postal's paths and texts, and a taken port."""

from __future__ import annotations

import logging
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core import metrics
from core.health_server import HealthServer, start_health_server
from tests.support.processes import free_port


def get(port: int, path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.fixture
def health() -> Iterator[HealthServer]:
    server = start_health_server("worker", "127.0.0.1", free_port(), metrics.process_registry())
    assert server is not None
    yield server
    server.stop()


def test_health_answers_ok(health: HealthServer) -> None:
    assert get(health.port, "/health")[::2] == (200, "OK")


def test_root_names_the_process(health: HealthServer) -> None:
    assert get(health.port, "/")[::2] == (200, f"worker (pid: {os.getpid()}, host: {socket.gethostname()})")


def test_other_paths_are_not_found(health: HealthServer) -> None:
    assert get(health.port, "/nothing")[::2] == (404, "Not Found")


def test_metrics_are_prometheus_text(health: HealthServer) -> None:
    metrics.SMTP_CONNECTIONS.inc()
    status, content_type, body = get(health.port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(body)}
    assert {"postal_smtp_server_connections", "postal_worker_job_runtime"} <= names


def test_a_taken_port_is_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    # Given another process listening on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When the health server tries it
        with caplog.at_level(logging.WARNING, logger="core.health_server"):
            server = start_health_server("smtp-server", "127.0.0.1", port, metrics.process_registry())
        # Then there is none, and a warning says why
        assert server is None
        assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
