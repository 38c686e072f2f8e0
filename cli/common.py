"""Helpers shared by the CLI commands: loading the configuration and printing results."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.config import Config, load_config
from core.db import Database
from core.dns import make_resolver
from core.errors import PostalError
from core.message_db import MessageDatabases
from core.migrations import main_is_current
from core.runtime import Runtime


def config_from(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def runtime_from(args: argparse.Namespace) -> Runtime:
    """A runtime for provisioning commands (no job publisher); the schema must be in place."""
    config = config_from(args)
    db = Database.from_config(config)
    if not main_is_current(db.engine):
        db.dispose()
        raise PostalError(
            "The database schema is missing or out of date: run `postal initialize` (or `postal upgrade`)"
        )
    return Runtime(config=config, db=db, message_dbs=MessageDatabases(config), resolver=make_resolver(config))


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print `data` as one JSON object with --json, else the human-readable `text`."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, default=str)
        sys.stdout.write("\n")
    else:
        print(text)
