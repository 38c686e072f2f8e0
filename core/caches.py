"""What the hot paths read of the main database, cached for a few seconds per process: each mail
server with its organization, domains, webhooks, holding credentials and IP rules; the IP pools;
the track domains the tracking rewrite uses; server tokens of tracking requests.

Submission and delivery look at the same few rows for every message: the server, its
organization and their domains. Reading them once per `TTL` seconds instead of once per message
removes most of the per-message database work; a change (suspension, a newly verified domain)
takes effect within `TTL` seconds everywhere, and at once in the process that made it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from core.db import Database
from models.base import table
from models.credential import Credential
from models.domain import Domain
from models.enums import DNSStatus, OwnerType
from models.ip_pool import IPAddress, IPPool, IPPoolRule
from models.organization import Organization
from models.server import Server
from models.track_domain import TrackDomain
from models.webhook import ALL_EVENTS_ONLY, NAMED_ONLY, Webhook, WebhookEvent

TTL = 5.0
# Server tokens remembered at most (known and unknown ones).
MAX_TOKENS = 10_000
TRACK_DOMAINS = table(TrackDomain)
DOMAINS = table(Domain)
SERVERS = table(Server)


@dataclass(frozen=True)
class WebhookTarget:
    id: int
    url: str
    all_events: bool
    events: frozenset[str]

    def wants(self, event: str) -> bool:
        """Postal's rules, and one of ours: the send-limit events only for all-events webhooks,
        the events beyond Postal's only for webhooks that name them."""
        if event in ALL_EVENTS_ONLY:
            return self.all_events
        if event in NAMED_ONLY:
            return event in self.events
        return self.all_events or event in self.events


@dataclass(frozen=True)
class ServerState:
    server: Server
    organization: Organization
    # Every domain of the server and of its organization, by id.
    domains: dict[int, Domain] = field(default_factory=dict)
    # Enabled webhooks.
    webhooks: tuple[WebhookTarget, ...] = ()
    # Credentials configured to hold every message sent with them.
    holding_credentials: frozenset[int] = frozenset()
    # IP pool rules: the server's newest first, then the organization's (reference §3.1).
    ip_rules: tuple[IPPoolRule, ...] = ()

    def webhooks_for(self, event: str) -> list[WebhookTarget]:
        return [w for w in self.webhooks if w.wants(event)]

    @property
    def suspended(self) -> bool:
        return self.server.suspended_at is not None or self.organization.suspended_at is not None

    def verified_domain(self, name: str) -> Domain | None:
        """The verified domain called `name`; the server's own wins over the organization's."""
        found = None
        for domain in self.domains.values():
            if domain.name == name and domain.verified_at is not None:
                if domain.owner_type == OwnerType.SERVER:
                    return domain
                found = domain
        return found

    @property
    def any_domain(self) -> Domain | None:
        """A verified domain of the server flagged `use_for_any` (first by name), if any."""
        candidates = sorted(
            (
                d
                for d in self.domains.values()
                if d.owner_type == OwnerType.SERVER and d.use_for_any and d.verified_at is not None
            ),
            key=lambda d: d.name,
        )
        return candidates[0] if candidates else None


class ServerCache:
    def __init__(self, db: Database, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[float, ServerState | None]] = {}

    def get(self, server_id: int) -> ServerState | None:
        """The live (not deleted) server, or None."""
        return self.get_many([server_id]).get(server_id)

    def cached(self, server_id: int) -> tuple[bool, ServerState | None]:
        """(True, the server or None) when a fresh entry is at hand, else (False, None): never
        reads the database, so an event loop may ask without handing the look-up to a thread."""
        with self._lock:
            entry = self._entries.get(server_id)
        if entry is None or self.clock() - entry[0] >= self.ttl:
            return False, None
        return True, entry[1]

    def get_many(self, server_ids: Iterable[int]) -> dict[int, ServerState]:
        now = self.clock()
        found: dict[int, ServerState] = {}
        missing: set[int] = set()
        with self._lock:
            for server_id in set(server_ids):
                entry = self._entries.get(server_id)
                if entry is not None and now - entry[0] < self.ttl:
                    if entry[1] is not None:
                        found[server_id] = entry[1]
                else:
                    missing.add(server_id)
        if missing:
            loaded = self._load(missing)
            with self._lock:
                for server_id in missing:
                    self._entries[server_id] = (now, loaded.get(server_id))
            found.update(loaded)
        return found

    def forget(self, server_id: int | None = None) -> None:
        """Drop one entry (or all): the next look-up reads the database."""
        with self._lock:
            if server_id is None:
                self._entries.clear()
            else:
                self._entries.pop(server_id, None)

    def _load(self, server_ids: set[int]) -> dict[int, ServerState]:
        with self.db.transaction() as session:
            rows = session.execute(
                select(Server, Organization)
                .join(Organization, Organization.id == Server.organization_id)
                .where(
                    Server.id.in_(server_ids),
                    Server.deleted_at.is_(None),
                    Organization.deleted_at.is_(None),
                )
            ).all()
            org_ids = {org.id for _, org in rows}
            owned = or_(
                (Domain.owner_type == OwnerType.SERVER) & Domain.owner_id.in_(server_ids),
                (Domain.owner_type == OwnerType.ORGANIZATION) & Domain.owner_id.in_(org_ids),
            )
            domains = session.scalars(select(Domain).where(owned)).all()
            webhooks = session.scalars(
                select(Webhook).where(Webhook.server_id.in_(server_ids), Webhook.enabled.is_(True))
            ).all()
            events: dict[int, set[str]] = {}
            if webhooks:
                for webhook_id, event in session.execute(
                    select(WebhookEvent.webhook_id, WebhookEvent.event).where(
                        WebhookEvent.webhook_id.in_([w.id for w in webhooks])
                    )
                ):
                    events.setdefault(webhook_id, set()).add(event)
            holding = session.execute(
                select(Credential.server_id, Credential.id).where(
                    Credential.server_id.in_(server_ids), Credential.hold.is_(True)
                )
            ).all()
            rules = session.scalars(
                select(IPPoolRule)
                .where(
                    or_(
                        (IPPoolRule.owner_type == OwnerType.SERVER) & IPPoolRule.owner_id.in_(server_ids),
                        (IPPoolRule.owner_type == OwnerType.ORGANIZATION) & IPPoolRule.owner_id.in_(org_ids),
                    )
                )
                .order_by(IPPoolRule.id.desc())
            ).all()
        states = {}
        for server, org in rows:
            own = {
                d.id: d
                for d in domains
                if (d.owner_type == OwnerType.SERVER and d.owner_id == server.id)
                or (d.owner_type == OwnerType.ORGANIZATION and d.owner_id == org.id)
            }
            server_rules = [r for r in rules if r.owner_type == OwnerType.SERVER and r.owner_id == server.id]
            org_rules = [r for r in rules if r.owner_type == OwnerType.ORGANIZATION and r.owner_id == org.id]
            states[server.id] = ServerState(
                server=server,
                organization=org,
                domains=own,
                webhooks=tuple(
                    WebhookTarget(w.id, w.url, w.all_events, frozenset(events.get(w.id, ())))
                    for w in webhooks
                    if w.server_id == server.id
                ),
                holding_credentials=frozenset(cid for sid, cid in holding if sid == server.id),
                ip_rules=tuple(server_rules + org_rules),
            )
        return states


@dataclass(frozen=True)
class SourceAddress:
    id: int
    pool_id: int
    ipv4: str
    ipv6: str | None
    hostname: str
    priority: int


@dataclass(frozen=True)
class Pools:
    permalinks: dict[int, str]
    addresses: dict[int, SourceAddress]

    def in_pool(self, pool_id: int) -> list[SourceAddress]:
        return [a for a in self.addresses.values() if a.pool_id == pool_id]


class PoolCache:
    """Every pool and address, re-read every `TTL` seconds (there are few of them)."""

    def __init__(self, db: Database, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._loaded: tuple[float, Pools] | None = None

    def get(self) -> Pools:
        now = self.clock()
        with self._lock:
            if self._loaded is not None and now - self._loaded[0] < self.ttl:
                return self._loaded[1]
        with self.db.transaction() as session:
            pools = {p.id: p.permalink for p in session.scalars(select(IPPool))}
            addresses = {
                a.id: SourceAddress(a.id, a.ip_pool_id, a.ipv4, a.ipv6, a.hostname, a.priority)
                for a in session.scalars(select(IPAddress))
            }
        loaded = Pools(pools, addresses)
        with self._lock:
            self._loaded = (now, loaded)
        return loaded

    def forget(self) -> None:
        with self._lock:
            self._loaded = None


@dataclass(frozen=True)
class ActiveTrackDomain:
    """A track domain whose CNAME checks out, as the rewrite uses it."""

    base: str  # `http(s)://<full name>`
    track_clicks: bool
    track_loads: bool
    excluded: frozenset[str]


class TrackDomainCache:
    """Each server's track domains with DNS OK, by domain id, re-read every `TTL` seconds: the
    pipeline asks for every message, and a track domain rarely changes."""

    def __init__(self, db: Database, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[float, dict[int, ActiveTrackDomain]]] = {}

    def get(self, server_id: int) -> dict[int, ActiveTrackDomain]:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(server_id)
            if entry is not None and now - entry[0] < self.ttl:
                return entry[1]
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(
                    TRACK_DOMAINS.c.domain_id,
                    TRACK_DOMAINS.c.name,
                    DOMAINS.c.name.label("domain_name"),
                    TRACK_DOMAINS.c.ssl_enabled,
                    TRACK_DOMAINS.c.track_clicks,
                    TRACK_DOMAINS.c.track_loads,
                    TRACK_DOMAINS.c.excluded_click_domains,
                )
                .join_from(TRACK_DOMAINS, DOMAINS, DOMAINS.c.id == TRACK_DOMAINS.c.domain_id)
                .where(TRACK_DOMAINS.c.server_id == server_id, TRACK_DOMAINS.c.dns_status == DNSStatus.OK)
            ).all()
        found = {
            row.domain_id: ActiveTrackDomain(
                base=f"{'https' if row.ssl_enabled else 'http'}://{row.name}.{row.domain_name}",
                track_clicks=bool(row.track_clicks),
                track_loads=bool(row.track_loads),
                excluded=frozenset(
                    line.strip().lower().rstrip(".")
                    for line in (row.excluded_click_domains or "").splitlines()
                    if line.strip()
                ),
            )
            for row in rows
        }
        with self._lock:
            self._entries[server_id] = (now, found)
        return found

    def forget(self, server_id: int | None = None) -> None:
        with self._lock:
            if server_id is None:
                self._entries.clear()
            else:
                self._entries.pop(server_id, None)


class ServerTokens:
    """Server token → live server id, re-read every `TTL` seconds (unknown tokens too), so that
    a burst of tracking requests asks the main database about once per server."""

    def __init__(self, db: Database, ttl: float = TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int | None]] = {}

    def get(self, token: str) -> int | None:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(token)
            if entry is not None and now - entry[0] < self.ttl:
                return entry[1]
        with self.db.reader.connect() as conn:
            found = conn.scalar(
                select(SERVERS.c.id).where(SERVERS.c.token == token, SERVERS.c.deleted_at.is_(None)).limit(1)
            )
        with self._lock:
            # Bounded: tokens nobody has seen for a while go, so random tokens cannot fill memory.
            if len(self._entries) >= MAX_TOKENS:
                self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl}
                if len(self._entries) >= MAX_TOKENS:
                    self._entries.clear()
            self._entries[token] = (now, int(found) if found is not None else None)
        return int(found) if found is not None else None
