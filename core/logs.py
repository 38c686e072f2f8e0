"""Logging to stdout, one line per event, as text or JSON (`logging.format`), with the request,
job and message a line is about carried in context variables."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core.config import Config
from core.errors import ConfigError

FORMAT = "%(asctime)s %(levelname)s [%(processName)s %(name)s] %(message)s"
FORMATS = ("text", "json")

# What a line is about, when known: set at the edge (an HTTP request, an SMTP session, a job)
# and inherited by threads started with the context (`asyncio.to_thread` copies it).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
message_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("message_id", default=None)
server_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("server_id", default=None)
_FIELDS: dict[str, contextvars.ContextVar[Any]] = {
    "request_id": request_id,
    "message_id": message_id,
    "server_id": server_id,
}


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Lines logged inside carry these (`request_id`, `message_id`, `server_id`)."""
    tokens = [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(**values: Any) -> list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]]:
    """Set context values until `unbind` (for hooks that open and close in separate calls)."""
    return [(_FIELDS[name], _FIELDS[name].set(value)) for name, value in values.items()]


def unbind(tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]]) -> None:
    for var, token in reversed(tokens):
        var.reset(token)


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the process and
    thread, the context values that are set, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
            "thread": record.threadName,
        }
        for name, var in _FIELDS.items():
            value = var.get()
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines, so a traceback stays on the event's one line.
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Postal-like text lines, with the context values that are set at the end."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # Before the traceback, which `format` appends to this.
        line = super().formatMessage(record)
        context = " ".join(f"{name}={var.get()}" for name, var in _FIELDS.items() if var.get() is not None)
        return f"{line} [{context}]" if context else line


def formatter(kind: str) -> logging.Formatter:
    if kind not in FORMATS:
        raise ConfigError(f"logging.format: must be one of {', '.join(FORMATS)}, not {kind!r}")
    return JSONFormatter() if kind == "json" else TextFormatter()


def setup_logging(config: Config | None = None, level: str | None = None) -> None:
    chosen = level or (config.logging.level if config else "info")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter(config.logging.format.lower() if config else "text"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(chosen.upper())
    if config is not None and not config.logging.enabled:
        root.setLevel(logging.WARNING)
    # Pika and Dramatiq are chatty at INFO about connections they handle themselves.
    for name in ("pika", "alembic", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # aiosmtpd logs every connection at INFO, and a deprecation warning on every AUTH.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    logging.getLogger("dramatiq").setLevel(logging.WARNING if chosen.lower() != "debug" else logging.DEBUG)
