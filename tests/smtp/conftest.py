"""The SMTP server of the test's installation, listening on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Installation
from tests.support.smtp_server import running_smtp_server


@pytest.fixture
def smtp_port(installation: Installation) -> Iterator[int]:
    with running_smtp_server(installation.runtime) as port:
        yield port
