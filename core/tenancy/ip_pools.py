"""IP pools: their addresses and rules, choosing a pool and address for a message (reference
§3.1), the queue of each pool, and which pools a worker's host can send from."""

from __future__ import annotations

import ipaddress
import itertools
import random
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.broker import QUEUE_OUTGOING, pool_queue
from core.caches import Pools, ServerState
from core.errors import NotFound, ValidationError
from core.mail.address import domain_of, strip_tag
from core.tenancy.permalinks import choose_permalink
from models.enums import OwnerType
from models.ip_pool import IPAddress, IPPool, IPPoolRule, OrganizationIPPool
from models.organization import Organization
from models.server import Server

# -- provisioning -----------------------------------------------------------------------------


def create_pool(session: Session, name: str, permalink: str | None = None, default: bool = False) -> IPPool:
    name = name.strip()
    if not name:
        raise ValidationError("name", "can't be blank")

    def taken(candidate: str) -> bool:
        return session.scalar(select(IPPool.id).where(IPPool.permalink == candidate)) is not None

    pool = IPPool(name=name, permalink=choose_permalink(name, permalink, (), taken), default=default)
    session.add(pool)
    session.flush()
    return pool


def find_pool(session: Session, ref: str) -> IPPool:
    pool = session.scalar(select(IPPool).where((IPPool.permalink == ref) | (IPPool.uuid == ref)))
    if pool is None:
        raise NotFound("IP pool", ref)
    return pool


def add_address(
    session: Session, pool: IPPool, ipv4: str, hostname: str, ipv6: str | None = None, priority: int = 100
) -> IPAddress:
    try:
        v4 = ipaddress.IPv4Address(ipv4.strip())
    except ValueError:
        raise ValidationError("ipv4", f"{ipv4!r} is not an IPv4 address") from None
    v6 = None
    if ipv6:
        try:
            v6 = ipaddress.IPv6Address(ipv6.strip())
        except ValueError:
            raise ValidationError("ipv6", f"{ipv6!r} is not an IPv6 address") from None
    if not 0 <= priority <= 100:
        raise ValidationError("priority", "must be between 0 and 100")
    if not hostname.strip():
        raise ValidationError("hostname", "can't be blank")
    for column, value in ((IPAddress.ipv4, str(v4)), (IPAddress.ipv6, str(v6) if v6 else None)):
        if value and session.scalar(select(IPAddress.id).where(column == value)) is not None:
            raise ValidationError("address", f"{value} is already in a pool")
    address = IPAddress(
        ip_pool_id=pool.id,
        ipv4=str(v4),
        ipv6=str(v6) if v6 else None,
        hostname=hostname.strip().lower(),
        priority=priority,
    )
    session.add(address)
    session.flush()
    return address


def assign_pool(session: Session, organization: Organization, pool: IPPool) -> None:
    """Make `pool` available to the organization (its servers and rules may then use it)."""
    exists = session.scalar(
        select(OrganizationIPPool.id).where(
            OrganizationIPPool.organization_id == organization.id, OrganizationIPPool.ip_pool_id == pool.id
        )
    )
    if exists is None:
        session.add(OrganizationIPPool(organization_id=organization.id, ip_pool_id=pool.id))
        session.flush()


def _conditions(text: str | None) -> list[str]:
    return [line.strip().lower() for line in (text or "").splitlines() if line.strip()]


def add_rule(
    session: Session,
    owner: Organization | Server,
    pool: IPPool,
    from_text: str | None = None,
    to_text: str | None = None,
) -> IPPoolRule:
    """A rule sending matching messages of `owner` through `pool` (at least one condition)."""
    if not _conditions(from_text) and not _conditions(to_text):
        raise ValidationError("rule", "needs at least one --from or --to condition")
    organization_id = owner.organization_id if isinstance(owner, Server) else owner.id
    organization = session.get(Organization, organization_id)
    assert organization is not None
    assign_pool(session, organization, pool)
    rule = IPPoolRule(
        owner_type=OwnerType.SERVER if isinstance(owner, Server) else OwnerType.ORGANIZATION,
        owner_id=owner.id,
        ip_pool_id=pool.id,
        from_text="\n".join(_conditions(from_text)) or None,
        to_text="\n".join(_conditions(to_text)) or None,
    )
    session.add(rule)
    session.flush()
    return rule


# -- changes (the management API) --------------------------------------------------------------


def update_pool(session: Session, pool: IPPool, name: str | None = None, default: bool | None = None) -> IPPool:
    """Rename a pool or change whether new organizations get it; the permalink (its queue) stays."""
    if name is not None:
        if not name.strip():
            raise ValidationError("name", "can't be blank")
        pool.name = name.strip()
    if default is not None:
        pool.default = default
    session.flush()
    return pool


def delete_pool(session: Session, pool: IPPool) -> None:
    """Remove a pool with its addresses and rules; servers using it go back to the default queue."""
    session.delete(pool)
    session.flush()


def update_address(
    session: Session, address: IPAddress, hostname: str | None = None, priority: int | None = None
) -> IPAddress:
    if hostname is not None:
        if not hostname.strip():
            raise ValidationError("hostname", "can't be blank")
        address.hostname = hostname.strip().lower()
    if priority is not None:
        if not 0 <= priority <= 100:
            raise ValidationError("priority", "must be between 0 and 100")
        address.priority = priority
    session.flush()
    return address


def organization_pools(session: Session, organization_id: int) -> list[IPPool]:
    """The pools assigned to the organization."""
    return list(
        session.scalars(
            select(IPPool)
            .join(OrganizationIPPool, OrganizationIPPool.ip_pool_id == IPPool.id)
            .where(OrganizationIPPool.organization_id == organization_id)
            .order_by(IPPool.id)
        )
    )


def unassign_pool(session: Session, organization: Organization, pool: IPPool) -> bool:
    """Take `pool` away from the organization (its rules and servers keep what they have)."""
    row = session.scalar(
        select(OrganizationIPPool).where(
            OrganizationIPPool.organization_id == organization.id, OrganizationIPPool.ip_pool_id == pool.id
        )
    )
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def update_rule(
    session: Session,
    rule: IPPoolRule,
    pool: IPPool | None = None,
    from_text: str | None = None,
    to_text: str | None = None,
) -> IPPoolRule:
    """Change a rule with the rules of `add_rule` (a new pool is assigned to the organization)."""
    new_from = _conditions(from_text) if from_text is not None else _conditions(rule.from_text)
    new_to = _conditions(to_text) if to_text is not None else _conditions(rule.to_text)
    if not new_from and not new_to:
        raise ValidationError("rule", "needs at least one --from or --to condition")
    if pool is not None:
        if rule.owner_type is OwnerType.SERVER:
            server = session.get(Server, rule.owner_id)
            assert server is not None
            organization_id = server.organization_id
        else:
            organization_id = rule.owner_id
        organization = session.get(Organization, organization_id)
        assert organization is not None
        assign_pool(session, organization, pool)
        rule.ip_pool_id = pool.id
    rule.from_text = "\n".join(new_from) or None
    rule.to_text = "\n".join(new_to) or None
    session.flush()
    return rule


# -- allocation -------------------------------------------------------------------------------


def _matches(condition: str, address: str) -> bool:
    if "@" in condition:
        return strip_tag(address).lower() == strip_tag(condition)
    return domain_of(address) == condition


def rule_matches(rule: IPPoolRule, from_addresses: Iterable[str], rcpt_to: str) -> bool:
    """Any `from` condition matching any From address, or any `to` condition matching the recipient."""
    senders = list(from_addresses)
    if any(_matches(c, a) for c in _conditions(rule.from_text) for a in senders):
        return True
    return any(_matches(c, rcpt_to) for c in _conditions(rule.to_text))


def choose_pool(state: ServerState, from_addresses: Sequence[str], rcpt_to: str) -> int | None:
    for rule in state.ip_rules:
        if rule_matches(rule, from_addresses, rcpt_to):
            return rule.ip_pool_id
    return state.server.ip_pool_id


def allocate(
    state: ServerState, pools: Pools, from_addresses: Sequence[str], rcpt_to: str, rng: random.Random
) -> tuple[int | None, str]:
    """The source address id and the queue for one outgoing message."""
    pool_id = choose_pool(state, from_addresses, rcpt_to)
    candidates = pools.in_pool(pool_id) if pool_id is not None else []
    if not candidates or pool_id is None:
        return None, QUEUE_OUTGOING
    # Weighted by priority, as Postal's ORDER BY RAND() * priority DESC.
    chosen = max(candidates, key=lambda a: rng.random() * a.priority)
    return chosen.id, pool_queue(pools.permalinks[pool_id])


# -- which pools this host can send from ------------------------------------------------------


def host_addresses(
    fib_trie: Path = Path("/proc/net/fib_trie"), if_inet6: Path = Path("/proc/net/if_inet6")
) -> set[str]:
    """The IP addresses configured on this host (Linux), else those its name resolves to."""
    found: set[str] = set()
    try:
        lines = fib_trie.read_text().splitlines()
        for previous, line in itertools.pairwise(lines):
            if line.strip() == "/32 host LOCAL":
                found.add(previous.strip().removeprefix("|-- "))
        for line in if_inet6.read_text().splitlines():
            raw = line.split()[0]
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except OSError:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    return found


def _local(address: str | None, present: set[str]) -> bool:
    if address is None:
        return True
    ip = ipaddress.ip_address(address)
    # The whole of 127.0.0.0/8 is on the loopback interface, not only 127.0.0.1.
    return address in present or str(ip) in present or ip.is_loopback


def local_pool_queues(pools: Pools, present: set[str]) -> list[str]:
    """Queues of the pools with an address on this host (both halves of a dual-stack address)."""
    queues = set()
    for address in pools.addresses.values():
        if _local(address.ipv4, present) and _local(address.ipv6, present) and address.pool_id in pools.permalinks:
            queues.add(pool_queue(pools.permalinks[address.pool_id]))
    return sorted(queues)
