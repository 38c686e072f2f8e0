"""Logging: one line per event as text or JSON, with the request and message ids of the context."""

from __future__ import annotations

import io
import json
import logging
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from core.config import build_config
from core.errors import ConfigError
from core.logs import JSONFormatter, TextFormatter, log_context, setup_logging
from tests.conftest import Installation
from tests.support.outgoing import run_queue
from tests.support.smtp_server import running_smtp_server
from tests.support.smtp_sink import SMTPSink


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_the_context(json_lines: io.StringIO) -> None:
    # When a line is logged inside a message's context, and one outside it
    with log_context(request_id="ABC123", message_id=42, server_id=7):
        logging.getLogger("core.test").info("delivered to %s", "mx.example.net")
    logging.getLogger("core.test").warning("outside")

    # Then each is one JSON object with the time, level, logger, message and what is known
    inside, outside = parsed(json_lines)
    assert inside["level"] == "info" and inside["logger"] == "core.test"
    assert inside["message"] == "delivered to mx.example.net"
    assert (inside["request_id"], inside["message_id"], inside["server_id"]) == ("ABC123", 42, 7)
    assert inside["time"].endswith("+00:00")
    assert "message_id" not in outside and outside["level"] == "warning"


def test_a_traceback_stays_on_its_line(json_lines: io.StringIO) -> None:
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("core.test").exception("it failed")
    (line,) = json_lines.getvalue().splitlines()
    entry = json.loads(line)
    assert "RuntimeError: boom" in entry["exception"]


def test_text_lines_name_the_context() -> None:
    record = logging.LogRecord("core.test", logging.INFO, __file__, 1, "sent", None, None)
    with log_context(message_id=5):
        line = TextFormatter().format(record)
    assert line.endswith("sent [message_id=5]")


def test_logging_format_json_is_chosen_by_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(build_config({"logging": {"format": "json"}}, environ={}))
        logging.getLogger("core.test").info("hello")
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["message"] == "hello"
        with pytest.raises(ConfigError, match=r"logging\.format"):
            setup_logging(build_config({"logging": {"format": "xml"}}, environ={}))
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def test_smtp_and_worker_lines_carry_the_message_id(
    installation: Installation, smtp_sink: SMTPSink, json_lines: io.StringIO
) -> None:
    # Given a message sent through the SMTP server
    message = EmailMessage()
    message["From"] = "Shop <orders@example.com>"
    message["To"] = "customer@example.net"
    message["Subject"] = "Logged"
    message.set_content("Hello")
    with running_smtp_server(installation.runtime) as port, smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.login(installation.server_ref, installation.smtp_key)
        client.send_message(message)
    # When a worker delivers it
    run_queue(installation)
    smtp_sink.wait_for(1)

    # Then the SMTP server's line names the message and its session, the worker's the message
    lines = parsed(json_lines)
    accepted = next(e for e in lines if e["logger"] == "smtp.handler" and e["message"].startswith("accepted"))
    assert accepted["message_id"] == 1 and accepted["server_id"] == installation.server_id
    assert len(accepted["request_id"]) == 6
    recorded = next(e for e in lines if e["logger"] == "core.queue.recorder")
    assert recorded["message_id"] == 1 and recorded["message"].startswith("Sent")
