"""Logging to stdout, one line per event, as text or JSON (`logging.format`), with the request,
job and message a line is about carried in context variables.

When stdout is a pipe, a socket or a file (a service's log collector), lines are formatted where
they are logged and written by a thread of their own (`BackgroundOutput`): a collector that reads
slowly then fills a queue instead of stopping the SMTP server's event loop, or every thread that
logs, in the middle of a write. A terminal, and anything without a file descriptor (a test's
captured output), is written at once, in order with what the program prints.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import os
import queue
import stat
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

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


class BackgroundOutput(logging.handlers.QueueHandler):
    """Formats each record in the thread that logs it, so that the context variables are that
    thread's (or task's), and writes the lines from a `QueueListener` thread. A line at ERROR or
    above is waited for: it is out before the code that logged it goes on (and before a crash
    that may follow). `close`, which `logging.shutdown` calls at exit, writes what is queued;
    after it, lines are written at once. A forked child starts a writer of its own."""

    def __init__(self, stream: TextIO, line_formatter: logging.Formatter) -> None:
        super().__init__(queue.Queue())
        self.setFormatter(line_formatter)
        self.writer = logging.StreamHandler(stream)
        self.writer.setFormatter(logging.Formatter("%(message)s"))  # the line is made already
        self.listener: logging.handlers.QueueListener | None = None
        self._start()
        _BACKGROUND.add(self)

    def _start(self) -> None:
        self.queue = queue.Queue()
        self.listener = logging.handlers.QueueListener(self.queue, self.writer)
        self.listener.start()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared = super().prepare(record)  # the formatted line, as the record's message
        prepared.stack_info = None  # part of the line already (Python 3.11 leaves it)
        return prepared

    def emit(self, record: logging.LogRecord) -> None:
        # (Called with this handler's lock held.)
        try:
            line = self.prepare(record)
        except Exception:
            self.handleError(record)
            return
        if self.listener is None:
            self.writer.handle(line)
            return
        self.enqueue(line)
        if record.levelno >= logging.ERROR:
            self.flush()

    def flush(self) -> None:
        """Wait until every line handed in so far is written."""
        if self.listener is not None:
            assert isinstance(self.queue, queue.Queue)
            self.queue.join()

    def close(self) -> None:
        self.acquire()
        try:
            listener, self.listener = self.listener, None
            if listener is not None:
                listener.stop()  # writes what is queued first
        finally:
            self.release()
        self.writer.flush()
        super().close()

    def _before_fork(self) -> None:
        # Nothing half written, and no writer thread in the middle of a write, at the fork.
        self.acquire()
        self.flush()

    def _after_fork_in_child(self) -> None:
        self.createLock()  # (the parent's lock is held by its forking thread)
        if self.listener is not None:
            self._start()  # the parent's writer thread is not in the child


_BACKGROUND: weakref.WeakSet[BackgroundOutput] = weakref.WeakSet()


def _before_fork() -> None:
    for handler in list(_BACKGROUND):
        handler._before_fork()


def _after_fork_in_parent() -> None:
    for handler in list(_BACKGROUND):
        handler.release()


def _after_fork_in_child() -> None:
    for handler in list(_BACKGROUND):
        handler._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)


def may_block(stream: TextIO) -> bool:
    """True when `stream` is a pipe, a socket or a file: written by a reader we do not control."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # no descriptor (io.UnsupportedOperation)
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)


def output_handler(stream: TextIO, line_formatter: logging.Formatter) -> logging.Handler:
    """Where the lines go: in the background when `stream` may block, else at once."""
    if may_block(stream):
        return BackgroundOutput(stream, line_formatter)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(line_formatter)
    return handler


def setup_logging(config: Config | None = None, level: str | None = None) -> None:
    chosen = level or (config.logging.level if config else "info")
    handler = output_handler(sys.stdout, formatter(config.logging.format.lower() if config else "text"))
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, BackgroundOutput):
            old.close()  # its queue written, its thread ended
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
