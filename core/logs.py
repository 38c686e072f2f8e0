"""Logging to stdout, one line per event, as every role does."""

from __future__ import annotations

import logging
import sys

from core.config import Config

FORMAT = "%(asctime)s %(levelname)s [%(processName)s %(name)s] %(message)s"


def setup_logging(config: Config | None = None, level: str | None = None) -> None:
    chosen = level or (config.logging.level if config else "info")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
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
