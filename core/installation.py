"""Setting an installation up: the main database with its schema, the installation signing key,
and bringing every server's message database up to date after an update."""

from __future__ import annotations

from sqlalchemy import func, select

from core.config import Config
from core.db import Database, ensure_mysql_database, main_url
from core.mail import dkim
from core.message_db import MessageDatabases
from core.migrations import upgrade_main
from models.server import Server
from models.statistic import Statistic
from models.user import User


def initialize_database(config: Config) -> Database:
    """Create the main database if missing and bring its schema up to date (safe to repeat)."""
    if config.embedded_database:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    else:
        ensure_mysql_database(main_url(config, with_database=False), config.main_db.database)
    db = Database.from_config(config)
    upgrade_main(db.engine)
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(Statistic)) == 0:
            session.add(Statistic(total_messages=0, total_outgoing=0, total_incoming=0))
    return db


def ensure_signing_key(config: Config) -> bool:
    """Make the installation signing key (webhook signatures, fallback DKIM) if it is missing;
    True when it was made. Raises OSError when it cannot be written."""
    path = config.signing_key_path
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dkim.generate_private_key(2048))
    path.chmod(0o600)
    return True


def upgrade_message_databases(config: Config, db: Database) -> int:
    """Create or migrate the message database of every live server; returns how many there are."""
    message_dbs = MessageDatabases(config)
    try:
        with db.transaction() as session:
            server_ids = list(session.scalars(select(Server.id).where(Server.deleted_at.is_(None))))
        for server_id in server_ids:
            message_dbs.create(server_id)
    finally:
        message_dbs.dispose()
    return len(server_ids)


def count_users(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)
