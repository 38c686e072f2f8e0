"""What one process needs to work: configuration, databases, the job publisher, DNS and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dns.resolver

from core.broker import Publisher
from core.caches import PoolCache, ServerCache, ServerTokens, TrackDomainCache
from core.config import Config
from core.db import Database
from core.dns import make_resolver
from core.group_commit import GroupCommit
from core.leases import LeaseKeeper
from core.mail.sender_pool import SenderPool
from core.message_db import MessageDatabases
from models.base import utcnow


@dataclass
class Runtime:
    """Built once at process start by the CLI and passed to every role (STYLE rules 3-5)."""

    config: Config
    db: Database
    message_dbs: MessageDatabases
    resolver: dns.resolver.Resolver
    publisher: Publisher | None = None
    clock: Callable[[], datetime] = field(default=utcnow)
    servers: ServerCache = field(init=False)
    pools: PoolCache = field(init=False)
    track_domains: TrackDomainCache = field(init=False)
    server_tokens: ServerTokens = field(init=False)
    # Outcomes of the delivery threads, recorded together as they arrive (`core.queue.recorder`).
    recordings: GroupCommit[Any] = field(default_factory=GroupCommit)
    # Outgoing SMTP sessions, made by the first delivery of this process.
    senders: SenderPool | None = None
    # Renews the locks of a worker process (None where nothing is locked for long).
    leases: LeaseKeeper | None = None

    def __post_init__(self) -> None:
        self.servers = ServerCache(self.db)
        self.pools = PoolCache(self.db)
        self.track_domains = TrackDomainCache(self.db)
        self.server_tokens = ServerTokens(self.db)

    @classmethod
    def create(cls, config: Config, publisher: Publisher | None = None) -> Runtime:
        return cls(
            config=config,
            db=Database.from_config(config),
            message_dbs=MessageDatabases(config),
            resolver=make_resolver(config, cached=True),
            publisher=publisher,
        )

    def require_publisher(self) -> Publisher:
        if self.publisher is None:
            raise RuntimeError("this process was started without a job publisher")
        return self.publisher

    def close(self) -> None:
        if self.leases is not None:
            self.leases.stop()
        if self.senders is not None:
            self.senders.close()
        self.message_dbs.dispose()
        self.db.dispose()
