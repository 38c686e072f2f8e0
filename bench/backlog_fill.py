"""Queueing a backlog without delivering it: outgoing messages written straight into the databases.

Each message is stored as `core.outgoing.submission` stores a submission: its headers and body as
two rows of the day's raw table (`core.messages.raw_store`), a `Pending` outgoing message row in
the server's message database with the statistics and raw size counters, and a `queued_messages`
row in the main database with the installation's message counter. The rows differ from a
submission's in one column only: `published_at` is NULL, so the requeuer publishes their jobs.
They are written in batches by executemany, generated lazily, with ids assigned here (the tables
belong to this run and nothing else writes to them meanwhile), so no RETURNING is needed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from bench.platform import RECIPIENT_DOMAIN, SENDER_DOMAIN
from core.broker import QUEUE_OUTGOING
from core.config import Config
from core.db import create_main_engine, run_transaction
from core.mail.headers import split_raw
from core.message_db import MessageDatabases, MessageDB
from core.messages.raw_store import ensure_raw_table
from core.messages.stats import add_raw_size, increment_stats
from core.queue.enqueue import MESSAGES, QUEUED, count_messages
from core.tokens import message_token
from models.base import table, utcnow
from models.credential import Credential
from models.domain import Domain
from models.enums import CredentialType, MessageScope
from models.message.raw import raw_table, raw_table_name
from models.server import Server

BODY_LINE = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs\r\n"
MAIL_FROM = f"app@{SENDER_DOMAIN}"


@dataclass(frozen=True)
class Target:
    """The provisioned server the messages belong to: its id, sender domain and credential."""

    server_id: int
    domain_id: int
    credential_id: int | None


@dataclass(frozen=True)
class FillResult:
    messages: int
    seconds: float
    raw_table: str
    first_message_id: int
    last_message_id: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def find_target(engine: Engine) -> Target:
    """The only server of this installation, its verified sender domain and SMTP credential."""
    servers, domains, credentials = table(Server), table(Domain), table(Credential)
    with engine.connect() as conn:
        server_id = conn.scalar(select(servers.c.id).order_by(servers.c.id).limit(1))
        domain_id = conn.scalar(select(domains.c.id).where(domains.c.name == SENDER_DOMAIN).limit(1))
        credential_id = conn.scalar(
            select(credentials.c.id)
            .where(credentials.c.server_id == server_id, credentials.c.type == CredentialType.SMTP)
            .limit(1)
        )
    if server_id is None or domain_id is None:
        raise RuntimeError("the installation has no server or no sender domain: was it provisioned?")
    return Target(int(server_id), int(domain_id), None if credential_id is None else int(credential_id))


class MessageMaker:
    """Messages of about `size` bytes as an SMTP client submits them, with the Received header
    the SMTP server adds and an `X-Bench-Id` the sink counts; `Date` is the fill's start."""

    def __init__(self, size: int, hostname: str) -> None:
        self.date = formatdate()
        self.received = f"Received: from bench.client (localhost [127.0.0.1]) by {hostname} with SMTP; {self.date}\r\n"
        self.nonce = os.urandom(4).hex()
        header_size = len(self._headers(0))
        remaining = max(0, size - header_size - 4)
        body = BODY_LINE * (remaining // len(BODY_LINE))
        rest = remaining - len(body)
        if rest >= 2:
            body += b"x" * (rest - 2) + b"\r\n"
        self.body = body

    def _headers(self, number: int) -> bytes:
        return (
            f"{self.received}"
            f"From: Bench <{MAIL_FROM}>\r\n"
            f"To: user{number}@{RECIPIENT_DOMAIN}\r\n"
            f"Subject: Bench message {number}\r\n"
            f"Date: {self.date}\r\n"
            f"Message-ID: <backlog-{number}-{self.nonce}@{SENDER_DOMAIN}>\r\n"
            f"X-Bench-Id: {number}\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii"
        ).encode()

    def raw(self, number: int) -> bytes:
        return self._headers(number) + b"\r\n\r\n" + self.body


@dataclass
class Batch:
    raw_rows: list[dict[str, Any]]
    message_rows: list[dict[str, Any]]
    queued_rows: list[dict[str, Any]]
    raw_bytes: int


def batches(
    target: Target,
    maker: MessageMaker,
    count: int,
    size: int,
    table_name: str,
    first_raw_id: int,
    first_message_id: int,
) -> Iterator[Batch]:
    """The rows of `count` messages, `size` messages at a time (one batch in memory at once)."""
    raw_id, message_id = first_raw_id, first_message_id
    for start in range(0, count, size):
        now = utcnow()
        timestamp = time.time()
        batch = Batch([], [], [], 0)
        for number in range(start, min(count, start + size)):
            raw = maker.raw(number)
            headers, body = split_raw(raw)
            batch.raw_rows.append({"id": raw_id, "data": headers, "next": None})
            batch.raw_rows.append({"id": raw_id + 1, "data": body, "next": None})
            batch.raw_bytes += len(headers) + len(body)
            rcpt = f"user{number}@{RECIPIENT_DOMAIN}"
            batch.message_rows.append(
                {
                    "id": message_id,
                    "token": message_token(),
                    "scope": MessageScope.OUTGOING.value,
                    "rcpt_to": rcpt,
                    "mail_from": MAIL_FROM,
                    "subject": f"Bench message {number}",
                    "message_id": f"backlog-{number}-{maker.nonce}@{SENDER_DOMAIN}",
                    "timestamp": timestamp,
                    "domain_id": target.domain_id,
                    "credential_id": target.credential_id,
                    "status": "Pending",
                    "size": len(raw),
                    "raw_table": table_name,
                    "raw_headers_id": raw_id,
                    "raw_body_id": raw_id + 1,
                    "bounce": False,
                    "bounce_for_id": None,
                    "tag": None,
                    "received_with_ssl": False,
                }
            )
            batch.queued_rows.append(
                {
                    "server_id": target.server_id,
                    "message_id": message_id,
                    "domain": RECIPIENT_DOMAIN,
                    "batch_key": f"outgoing-{RECIPIENT_DOMAIN}",
                    "ip_address_id": None,
                    "queue": QUEUE_OUTGOING,
                    # Never published: the requeuer finds these rows and publishes their jobs.
                    "published_at": None,
                    "attempts": 0,
                    "manual": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            raw_id += 2
            message_id += 1
        yield batch


class _Writer:
    """Writes the batches of one shared generator, in as many threads as run `run`: the message
    database's rows first and then the queue rows, each in one transaction, as a submission does."""

    def __init__(
        self,
        engine: Engine,
        mdb: MessageDB,
        table_name: str,
        rows: Iterator[Batch],
        progress: Callable[[int, float], None] | None,
    ) -> None:
        self.engine, self.mdb, self.table_name = engine, mdb, table_name
        self.rows = rows
        self.progress = progress
        self.inserts = (insert(raw_table(table_name)), insert(MESSAGES), insert(QUEUED))
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.done = 0
        self.failure: BaseException | None = None

    def _next(self) -> Batch | None:
        with self.lock:
            if self.failure is not None:
                return None
            return next(self.rows, None)

    def _store(self, conn: Connection, batch: Batch, moment: datetime) -> None:
        insert_raw, insert_messages, _ = self.inserts
        conn.execute(insert_raw, batch.raw_rows)
        conn.execute(insert_messages, batch.message_rows)
        # The shared counters last, so that their row locks are held briefly.
        add_raw_size(conn, self.table_name, batch.raw_bytes)
        increment_stats(conn, moment, {"outgoing": len(batch.message_rows)})

    def _queue(self, conn: Connection, batch: Batch) -> None:
        conn.execute(self.inserts[2], batch.queued_rows)
        count_messages(conn, outgoing=len(batch.queued_rows))

    def run(self) -> None:
        try:
            while (batch := self._next()) is not None:
                moment = utcnow()
                # Retried on a deadlock (the counters' upserts, from several threads): the ids
                # are fixed, so a rolled-back batch is written again as it was.
                run_transaction(self.mdb.engine, partial(self._store, batch=batch, moment=moment))
                run_transaction(self.engine, partial(self._queue, batch=batch))
                with self.lock:
                    self.done += len(batch.queued_rows)
                    if self.progress is not None:
                        self.progress(self.done, time.monotonic() - self.started)
        except BaseException as exc:
            with self.lock:
                self.failure = exc


def _next_id(conn: Connection, column: Any) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1


def fill(
    config: Config,
    count: int,
    message_size: int,
    batch_size: int,
    threads: int = 2,
    progress: Callable[[int, float], None] | None = None,
) -> FillResult:
    """Store and queue `count` messages with `threads` connections to each database at once (the
    driver waits for the database without the GIL); `progress(done, seconds)` after each batch."""
    engine = create_main_engine(config)
    message_dbs = MessageDatabases(config)
    try:
        target = find_target(engine)
        mdb = message_dbs.get(target.server_id)
        day = utcnow().date()
        name = raw_table_name(day)
        raws = raw_table(name)
        with mdb.transaction() as conn:
            ensure_raw_table(conn, mdb, name)
            first_raw_id = _next_id(conn, raws.c.id)
            first_message_id = _next_id(conn, MESSAGES.c.id)
        maker = MessageMaker(message_size, config.postal.smtp_hostname)
        rows = batches(target, maker, count, batch_size, name, first_raw_id, first_message_id)
        writer = _Writer(engine, mdb, name, rows, progress)
        started = time.monotonic()
        pool = [threading.Thread(target=writer.run, name=f"fill-{n}", daemon=True) for n in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if writer.failure is not None:
            raise writer.failure
        seconds = time.monotonic() - started
        return FillResult(count, seconds, name, first_message_id, first_message_id + count - 1)
    finally:
        message_dbs.dispose()
        engine.dispose()
