"""Inspection daemons that are down never hold up or lose incoming mail: the checks record the
error and the message goes on to its endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.jobs.dequeue import process_queued_message
from models.base import table
from models.message.spam_check import SpamCheck
from tests.conftest import Installation, merge
from tests.support.incoming import queued_row, receive, route
from tests.support.outgoing import message
from tests.support.processes import free_port


@pytest.fixture
def config_data(config_data: dict[str, Any]) -> dict[str, Any]:
    nothing = free_port()  # nothing listens there
    return merge(
        config_data,
        {
            "spamd": {"enabled": True, "host": "127.0.0.1", "port": nothing},
            "clamav": {"enabled": True, "host": "127.0.0.1", "port": nothing},
        },
    )


def test_daemons_that_are_down_do_not_stop_mail(installation: Installation) -> None:
    route(installation, "support@example.com", mode="Accept")
    [mid] = receive(installation, "support@example.com")
    process_queued_message(installation.runtime, queued_row(installation, mid)["id"])
    found = message(installation, mid)
    assert found["status"] == "Processed" and found["inspected"] and not found["spam"] and not found["threat"]
    assert found["threat_details"] == "Error when scanning for threats"
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        t = table(SpamCheck)
        codes = list(conn.scalars(select(t.c.code).where(t.c.message_id == mid)))
    assert codes == ["ERROR"]
