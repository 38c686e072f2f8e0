"""Schema migrations of the main database and of every server's message database (alembic)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

import models.migrations

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(models.migrations.__file__).parent
HEADS = {"main": models.migrations.MAIN_HEAD, "message": models.migrations.MESSAGE_HEAD}


class MigratableDatabase(Protocol):
    """A message database as migrations see it (`core.message_db.MessageDB`)."""

    def migration_connection(self) -> contextlib.AbstractContextManager[Connection]: ...


def alembic_config(kind: str, connection: Connection | None = None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR / kind))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision(kind: str) -> str | None:
    """The newest revision according to alembic's own scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(kind)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision stored in the database (None for an empty database)."""
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        connection.rollback()
        return None


def _upgrade(kind: str, connection: Connection) -> None:
    from alembic import command

    command.upgrade(alembic_config(kind, connection), "head")
    connection.commit()


def upgrade_main(engine: Engine) -> None:
    with engine.connect() as conn:
        _upgrade("main", conn)


def main_is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return current_revision(conn) == HEADS["main"]


def upgrade_message_db(mdb: MigratableDatabase) -> None:
    with mdb.migration_connection() as conn:
        _upgrade("message", conn)
