"""`/health` over a real HTTP connection."""

from __future__ import annotations

import urllib.error
import urllib.request

from core.config import build_config
from core.runtime import Runtime
from tests.conftest import Installation
from tests.support.processes import free_port
from web.app import create_app
from web.server import start_threaded


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_health_is_ok_when_the_database_answers(installation: Installation) -> None:
    port = free_port()
    server = start_threaded(create_app(installation.runtime), "127.0.0.1", port, installation.runtime.config)
    try:
        assert get(f"http://127.0.0.1:{port}/health") == (200, "OK")
        assert get(f"http://127.0.0.1:{port}/api/nothing-here")[0] == 404
        # Other unknown paths belong to the web UI, which asks a visitor to log in first.
        status, text = get(f"http://127.0.0.1:{port}/nothing-here")
        assert status == 200 and "Log in to Postal" in text
    finally:
        server.shutdown()


def test_health_fails_when_the_database_is_unreachable() -> None:
    config = build_config({"main_db": {"host": "127.0.0.1", "port": free_port(), "database": "nothing"}}, environ={})
    runtime = Runtime.create(config)
    port = free_port()
    server = start_threaded(create_app(runtime), "127.0.0.1", port, runtime.config)
    try:
        assert get(f"http://127.0.0.1:{port}/health") == (503, "Database unavailable")
    finally:
        server.shutdown()
        runtime.close()
