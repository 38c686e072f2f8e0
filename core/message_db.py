"""Per-server message databases: `<prefix>-server-<id>` on MariaDB, one SQLite file per server embedded.

On MariaDB every server database is reached through one shared engine (one connection pool for
all servers): unqualified table names are mapped to the server's database with SQLAlchemy's
`schema_translate_map`, the way Postal qualifies every query with the database name.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, inspect
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from core.config import Config
from core.db import create_mysql_engine, create_sqlite_engine, ensure_mysql_database, mysql_url, read_only
from core.errors import DatabaseUnavailable
from core.migrations import upgrade_message_db


class MessageDB:
    """One server's message database."""

    def __init__(self, server_id: int, name: str, engine: Engine, migration_url: URL | None) -> None:
        self.server_id = server_id
        self.name = name
        self.engine = engine
        self.reader = read_only(engine)
        self.migration_url = migration_url
        # Raw tables known to exist, so the hot path does not ask the database every time.
        self.raw_tables: set[str] = set()
        self.raw_tables_lock = threading.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed when the block ends without error."""
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session in one transaction (for the less hot paths)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A connection whose default database is this one (alembic wants unqualified names)."""
        if self.migration_url is None:
            with self.engine.connect() as conn:
                yield conn
            return
        engine = create_engine(self.migration_url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()


class MessageDatabases:
    """Finds, creates and drops the message databases of this installation."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.prefix = config.message_db.database_name_prefix
        self._lock = threading.Lock()
        self._cache: dict[int, MessageDB] = {}
        self._shared_engine: Engine | None = None

    # -- naming ------------------------------------------------------------------------------

    def name_for(self, server_id: int) -> str:
        return f"{self.prefix}-server-{server_id}"

    def sqlite_path(self, server_id: int) -> Path:
        return self.config.data_dir / "messages" / f"{self.name_for(server_id)}.sqlite3"

    def _server_url(self, database: str | None) -> URL:
        main, msg = self.config.main_db, self.config.message_db
        return mysql_url(
            msg.host or main.host,
            msg.port if msg.host else main.port,
            msg.username or main.username,
            msg.password or main.password,
            database,
            msg.encoding,
        )

    # -- access ------------------------------------------------------------------------------

    def get(self, server_id: int) -> MessageDB:
        with self._lock:
            cached = self._cache.get(server_id)
            if cached is not None:
                return cached
            name = self.name_for(server_id)
            if self.config.embedded_database:
                engine = create_sqlite_engine(self.sqlite_path(server_id))
                mdb = MessageDB(server_id, name, engine, None)
            else:
                if self._shared_engine is None:
                    self._shared_engine = create_mysql_engine(self._server_url(None), self.config.main_db.pool_size)
                engine = self._shared_engine.execution_options(schema_translate_map={None: name})
                mdb = MessageDB(server_id, name, engine, self._server_url(name))
            self._cache[server_id] = mdb
            return mdb

    def exists(self, server_id: int) -> bool:
        if self.config.embedded_database:
            return self.sqlite_path(server_id).exists()
        mdb = self.get(server_id)
        try:
            with mdb.engine.connect() as conn:
                return bool(inspect(conn).has_schema(mdb.name))
        except OperationalError as exc:
            raise DatabaseUnavailable(f"Cannot reach the message database server: {exc.orig}") from exc

    def create(self, server_id: int) -> MessageDB:
        """Create the server's database if needed and bring its schema up to date."""
        if not self.config.embedded_database:
            ensure_mysql_database(self._server_url(None), self.name_for(server_id))
        mdb = self.get(server_id)
        upgrade_message_db(mdb)
        return mdb

    def drop(self, server_id: int) -> None:
        with self._lock:
            mdb = self._cache.pop(server_id, None)
        if self.config.embedded_database:
            if mdb is not None:
                mdb.engine.dispose()
            path = self.sqlite_path(server_id)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        engine = create_engine(self._server_url(None), poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{self.name_for(server_id)}`")
        finally:
            engine.dispose()

    def dispose(self) -> None:
        with self._lock:
            for mdb in self._cache.values():
                if self.config.embedded_database:
                    mdb.engine.dispose()
            self._cache.clear()
            if self._shared_engine is not None:
                self._shared_engine.dispose()
                self._shared_engine = None
