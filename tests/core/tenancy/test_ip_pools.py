"""IP pools: Postal's allocation rules, the pool's queue, and delivery from the chosen address."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from sqlalchemy import select

from core.caches import Pools, SourceAddress
from core.tenancy.ip_pools import add_address, add_rule, allocate, create_pool, host_addresses, local_pool_queues
from core.tenancy.organizations import find_organization
from core.tenancy.servers import find_server
from models.ip_pool import IPPoolRule
from tests.conftest import Installation
from tests.support.outgoing import queued, run_queue, send
from tests.support.smtp_sink import SMTPSink


def pools_and_rules(installation: Installation) -> None:
    runtime = installation.runtime
    runtime.config = dataclasses.replace(
        runtime.config, postal=dataclasses.replace(runtime.config.postal, use_ip_pools=True)
    )
    with runtime.db.transaction() as session:
        transactional = create_pool(session, "Transactional")
        bulk = create_pool(session, "Bulk")
        add_address(session, transactional, "127.0.0.2", "tx1.postal.test")
        add_address(session, bulk, "127.0.0.3", "bulk1.postal.test")
        server = find_server(session, installation.server_ref)
        server.ip_pool_id = transactional.id
        add_rule(session, server, bulk, from_text="news@example.com", to_text="")
        add_rule(session, find_organization(session, "acme"), bulk, to_text="bulk.example")
    runtime.servers.forget()
    runtime.pools.forget()


def test_messages_leave_from_the_pool_their_rules_choose(installation: Installation, smtp_sink: SMTPSink) -> None:
    pools_and_rules(installation)
    news = b"From: News <news+weekly@example.com>\r\nSubject: x\r\n\r\nHi\r\n"
    [plain] = send(installation, "a@example.net")
    [by_sender] = send(installation, "b@example.net", raw=news)
    rows = [queued(installation, qid) for qid in (plain, by_sender)]
    assert [r["queue"] for r in rows] == ["outgoing-transactional", "outgoing-bulk"]
    run_queue(installation)
    by_rcpt = {m.rcpt_tos[0]: m for m in smtp_sink.messages}
    # Each delivery binds its address and says hello with its name.
    assert (by_rcpt["a@example.net"].peer, by_rcpt["a@example.net"].helo) == ("127.0.0.2", "tx1.postal.test")
    assert (by_rcpt["b@example.net"].peer, by_rcpt["b@example.net"].helo) == ("127.0.0.3", "bulk1.postal.test")


def test_rule_order_server_rules_newest_first_then_organization(installation: Installation) -> None:
    pools_and_rules(installation)
    state = installation.runtime.servers.get(installation.server_id)
    assert state is not None
    pools = installation.runtime.pools.get()
    rng = random.Random(1)
    assert allocate(state, pools, ["someone@example.com"], "x@bulk.example", rng)[1] == "outgoing-bulk"  # org rule
    assert allocate(state, pools, ["news@example.com"], "x@other.example", rng)[1] == "outgoing-bulk"  # server rule
    assert allocate(state, pools, ["someone@example.com"], "x@other.example", rng)[1] == "outgoing-transactional"
    with installation.runtime.db.transaction() as session:
        assert [r.owner_type.value for r in session.scalars(select(IPPoolRule).order_by(IPPoolRule.id))] == [
            "Server", "Organization",
        ]  # fmt: skip


def test_addresses_are_weighted_by_priority() -> None:
    addresses = {
        1: SourceAddress(1, 7, "192.0.2.1", None, "a", 100),
        2: SourceAddress(2, 7, "192.0.2.2", None, "b", 0),
        3: SourceAddress(3, 7, "192.0.2.3", None, "c", 50),
    }
    pools = Pools({7: "pool"}, addresses)

    class State:
        ip_rules = ()
        server = type("S", (), {"ip_pool_id": 7})()

    rng = random.Random(0)
    picks = [allocate(State(), pools, [], "x@y.example", rng)[0] for _ in range(3000)]  # type: ignore[arg-type]
    assert picks.count(2) == 0  # priority 0 is never chosen while others exist
    assert picks.count(1) > picks.count(3) > 0


def test_a_worker_consumes_the_pools_whose_addresses_it_has() -> None:
    pools = Pools(
        {1: "local", 2: "remote", 3: "dual"},
        {
            1: SourceAddress(1, 1, "192.0.2.2", None, "a", 100),
            2: SourceAddress(2, 2, "198.51.100.7", None, "b", 100),
            3: SourceAddress(3, 3, "192.0.2.2", "2001:db8::9", "c", 100),  # IPv6 half missing here
        },
    )
    assert local_pool_queues(pools, {"192.0.2.2", "127.0.0.1"}) == ["outgoing-local"]
    assert local_pool_queues(pools, {"192.0.2.2", "2001:db8::9"}) == ["outgoing-dual", "outgoing-local"]


def test_host_addresses_are_read_from_the_kernel(tmp_path: Path) -> None:
    found = host_addresses()
    assert "127.0.0.1" in found and "::1" in found
    fib = tmp_path / "fib_trie"
    fib.write_text("Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 203.0.113.5\n        /32 host LOCAL\n")
    inet6 = tmp_path / "if_inet6"
    inet6.write_text("20010db8000000000000000000000042 02 40 00 80     eth0\n")
    assert host_addresses(fib, inet6) == {"203.0.113.5", "2001:db8::42"}
