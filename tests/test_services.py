"""Under CI=true a missing MariaDB or RabbitMQ fails the tests that need them instead of skipping."""

from __future__ import annotations

import pytest

import tests.conftest as conftest
from tests.support.processes import free_port
from tests.support.services import mariadb_reachable, rabbitmq_reachable


def test_unreachable_services_are_detected() -> None:
    port = free_port()
    assert not mariadb_reachable("127.0.0.1", port)
    assert not rabbitmq_reachable("127.0.0.1", port)


def test_missing_service_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true requires it"):
        conftest.require("MariaDB", False, "127.0.0.1:3306")
    monkeypatch.setattr(conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="start it to run this test"):
        conftest.require("MariaDB", False, "127.0.0.1:3306")
