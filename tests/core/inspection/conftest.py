"""Real spamd and clamd daemons for the test session; servers that never answer or answer nonsense; a closed port.

Each daemon starts once, when the first test that needs it runs. Without the daemons' binaries
the tests that need them are skipped, except under CI=true, where they fail: CI must run them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.core.inspection.helpers import CannedServer, SilentServer, require_binary
from tests.support.processes import free_port
from tests.support.spam_daemons import (
    CLAMD_PACKAGE,
    SPAMD_PACKAGE,
    Daemon,
    running_clamd,
    running_spamd,
)


@pytest.fixture(scope="session")
def spamd_daemon() -> Iterator[Daemon]:
    with running_spamd(require_binary("spamd", SPAMD_PACKAGE)) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def clamd_daemon() -> Iterator[Daemon]:
    with running_clamd(require_binary("clamd", CLAMD_PACKAGE)) as daemon:
        yield daemon


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def canned_server() -> Iterator[CannedServer]:
    """Answers every request with a line of nonsense (set `reply` to change it) and hangs up."""
    server = CannedServer(b"220 hello, this is not the protocol you expected\r\n")
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    return free_port()
