"""Database engines and sessions: MariaDB through mysqlclient in production, SQLite files when embedded."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from core.config import Config
from core.errors import DatabaseUnavailable

SQLITE_MAIN_FILE = "postal.sqlite3"
# MariaDB: deadlock found; lock wait timeout. Both mean "run the transaction again".
RETRYABLE_MYSQL_ERRORS = frozenset({1213, 1205})
READ_ONLY = "postal_read_only"

T = TypeVar("T")


def mysql_url(host: str, port: int, username: str, password: str, database: str | None, charset: str) -> URL:
    return URL.create(
        "mysql+mysqldb",
        username=username,
        password=password or None,
        host=host,
        port=port,
        database=database,
        query={"charset": charset},
    )


def main_url(config: Config, with_database: bool = True) -> URL:
    """The main database's URL; without the database name for creating it."""
    if config.embedded_database:
        return URL.create("sqlite+pysqlite", database=str(config.data_dir / SQLITE_MAIN_FILE))
    db = config.main_db
    return mysql_url(db.host, db.port, db.username, db.password, db.database if with_database else None, db.encoding)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a generous busy timeout, and BEGIN IMMEDIATE so that concurrent writers queue up
    instead of failing when a read transaction tries to become a write transaction."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (see `read_only`) take no write lock, so in WAL mode they never wait for writers.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        URL.create("sqlite+pysqlite", database=str(path)),
        pool_size=8,
        max_overflow=16,
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    _configure_sqlite(engine)
    return engine


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read."""
    return engine.execution_options(**{READ_ONLY: True})


def retryable(exc: BaseException) -> bool:
    """A deadlock or lock timeout (MariaDB), or a busy database (SQLite): safe to run again."""
    if not isinstance(exc, DBAPIError):
        return False
    args: tuple[object, ...] = getattr(exc.orig, "args", ())
    if args and args[0] in RETRYABLE_MYSQL_ERRORS:
        return True
    return "database is locked" in str(exc.orig)


def run_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = 5) -> T:
    """Run `work` in one transaction, again (after a short random pause) when the database
    reports a deadlock or lock timeout: small transactions on hot rows meet those under load."""
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts - 1 or not retryable(exc):
                raise
            time.sleep(random.uniform(0.005, 0.02) * (2**attempt))
    raise AssertionError("unreachable")


def create_mysql_engine(url: URL, pool_size: int, **options: Any) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
        pool_recycle=3600,
        # READ COMMITTED: the queue's lock-by-UPDATE pattern needs no gap locks.
        isolation_level="READ COMMITTED",
        **options,
    )


def create_main_engine(config: Config) -> Engine:
    if config.embedded_database:
        return create_sqlite_engine(config.data_dir / SQLITE_MAIN_FILE)
    return create_mysql_engine(main_url(config), config.main_db.pool_size)


def ensure_mysql_database(server_url: URL, name: str) -> bool:
    """Create database `name` on the server of `server_url` (a URL without a database) if it is
    missing; True when it was created."""
    engine = create_engine(server_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"), {"n": name}
            ).first()
            if exists:
                return False
            conn.exec_driver_sql(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            return True
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"Cannot connect to MariaDB at {server_url.host}:{server_url.port}: {exc.orig}"
        ) from exc
    finally:
        engine.dispose()


class Database:
    """The main database: an engine and the sessions made from it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = read_only(engine)
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_config(cls, config: Config) -> Database:
        return cls(create_main_engine(config))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on error (STYLE rule 10)."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
