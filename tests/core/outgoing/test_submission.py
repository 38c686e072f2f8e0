"""Accepting mail (reference §3.1): the sender-domain rule, storage, statistics and queueing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from core.incoming.submission import submit_many
from core.messages.raw_store import CHUNK_SIZE, load_raw_message
from core.messages.stats import period_starts
from core.outgoing.submission import Submission, UnauthenticatedFrom, submit
from core.queue.enqueue import ServerSuspended, SubmissionRejected
from core.tenancy.domains import add_domain
from models.base import table
from models.domain import Domain
from models.message.message import Message
from models.message.raw import RawMessageSize
from models.message.stat import StatDaily, StatHourly
from models.organization import Organization
from models.queued_message import QueuedMessage
from models.server import Server
from models.statistic import Statistic
from tests.conftest import Installation


def raw(from_: str = "Shop <orders@example.com>", extra: str = "", body: bytes = b"Hello\r\n") -> bytes:
    return f"From: {from_}\r\n{extra}To: c@example.net\r\nSubject: Test\r\n\r\n".encode() + body


def submission(installation: Installation, data: bytes, rcpts: list[str] | None = None) -> Submission:
    return Submission(
        server_id=installation.server_id,
        mail_from="orders@example.com",
        rcpt_to=rcpts or ["c@example.net"],
        raw=data,
        credential_id=None,
    )


def test_server_domain_authorises_from(installation: Installation) -> None:
    accepted = submit(installation.runtime, submission(installation, raw()))
    assert len(accepted.messages) == 1


@pytest.mark.parametrize(
    "from_",
    [
        "someone@other.example",
        "Mixed <orders@example.com>, <x@other.example>",  # every address must be authorised
        "orders@sub.example.com",  # subdomains are separate domains
    ],
)
def test_from_outside_the_verified_domains_is_refused(installation: Installation, from_: str) -> None:
    with pytest.raises(UnauthenticatedFrom) as error:
        submit(installation.runtime, submission(installation, raw(from_)))
    assert error.value.code == "UnauthenticatedFromAddress"


def test_organization_domains_authorise_from_but_unverified_ones_do_not(installation: Installation) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        org = session.scalars(select(Organization)).one()
        add_domain(session, runtime.config, org, "org.example", verified=True)
        add_domain(session, runtime.config, org, "pending.example", verified=False)
    assert submit(runtime, submission(installation, raw("a@org.example"))).messages
    with pytest.raises(UnauthenticatedFrom):
        submit(runtime, submission(installation, raw("a@pending.example")))


def test_use_for_any_domain_authorises_every_from(installation: Installation) -> None:
    with installation.runtime.db.transaction() as session:
        session.execute(update(Domain).values(use_for_any=True))
    installation.runtime.servers.forget()  # the cache would hide the change for a few seconds
    accepted = submit(installation.runtime, submission(installation, raw("anyone@anywhere.example")))
    assert accepted.messages


def test_sender_header_counts_only_with_allow_sender(installation: Installation) -> None:
    data = raw("client@customer.example", extra="Sender: orders@example.com\r\n")
    with pytest.raises(UnauthenticatedFrom):
        submit(installation.runtime, submission(installation, data))
    with installation.runtime.db.transaction() as session:
        session.execute(update(Server).values(allow_sender=True))
    installation.runtime.servers.forget()  # the cache would hide the change for a few seconds
    assert submit(installation.runtime, submission(installation, data)).messages


def test_tagged_local_parts_are_fine(installation: Installation) -> None:
    assert submit(installation.runtime, submission(installation, raw("orders+news@example.com"))).messages


def test_suspended_server_refuses(installation: Installation) -> None:
    with installation.runtime.db.transaction() as session:
        session.execute(update(Server).values(suspended_at=dt.datetime(2026, 1, 1)))
    installation.runtime.servers.forget()  # the cache would hide the change for a few seconds
    with pytest.raises(ServerSuspended):
        submit(installation.runtime, submission(installation, raw()))


def test_a_batch_keeps_each_result_apart(installation: Installation) -> None:
    good, bad = submission(installation, raw()), submission(installation, raw("x@other.example"))
    gone = Submission(server_id=9999, mail_from="a@b.c", rcpt_to=["c@example.net"], raw=raw())
    results = submit_many(installation.runtime, [good, bad, good, gone])
    assert [type(r).__name__ for r in results] == ["Accepted", "UnauthenticatedFrom", "Accepted", "SubmissionRejected"]
    assert isinstance(results[3], SubmissionRejected) and results[3].code == "ServerNotFound"


def test_one_message_per_distinct_recipient_sharing_the_raw_data(installation: Installation) -> None:
    accepted = submit(
        installation.runtime, submission(installation, raw(), ["a@example.net", "b@example.org", "a@example.net"])
    )
    assert [rcpt for rcpt, _, _ in accepted.messages] == ["a@example.net", "b@example.org"]
    assert len({token for _, _, token in accepted.messages}) == 2
    with installation.runtime.db.engine.connect() as conn:
        rows = conn.execute(select(table(QueuedMessage)).order_by(table(QueuedMessage).c.id)).mappings().all()
    assert [(r["domain"], r["batch_key"], r["queue"]) for r in rows] == [
        ("example.net", "outgoing-example.net", "outgoing"),
        ("example.org", "outgoing-example.org", "outgoing"),
    ]


def test_statistics_count_each_message(installation: Installation) -> None:
    runtime = installation.runtime
    submit(runtime, submission(installation, raw(), ["a@example.net", "b@example.net"]))
    submit(runtime, submission(installation, raw()))
    mdb = runtime.message_dbs.get(installation.server_id)
    starts = period_starts(runtime.clock())
    with mdb.engine.connect() as conn:
        hourly = conn.execute(select(table(StatHourly))).mappings().one()
        daily = conn.execute(select(table(StatDaily))).mappings().one()
        sizes = conn.execute(select(table(RawMessageSize))).mappings().one()
    assert (hourly["time"], hourly["outgoing"], hourly["incoming"]) == (starts["hourly"], 3, 0)
    assert (daily["time"], daily["outgoing"]) == (starts["daily"], 3)
    assert sizes["table_name"] == runtime.clock().strftime("raw-%Y-%m-%d") and sizes["size"] > 0
    with runtime.db.engine.connect() as conn:
        totals = conn.execute(select(table(Statistic))).mappings().one()
    assert (totals["total_messages"], totals["total_outgoing"], totals["total_incoming"]) == (3, 3, 0)


def test_large_messages_are_stored_in_chunks_and_read_back_whole(installation: Installation) -> None:
    body = (b"x" * 998 + b"\r\n") * ((CHUNK_SIZE * 2) // 1000 + 10)
    data = raw(body=body)
    accepted = submit(installation.runtime, submission(installation, data))
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        row = (
            conn.execute(select(table(Message)).where(table(Message).c.id == accepted.messages[0][1])).mappings().one()
        )
        stored = load_raw_message(conn, row["raw_table"], row["raw_headers_id"], row["raw_body_id"])
    assert stored is not None and stored.endswith(body) and len(stored) > CHUNK_SIZE * 2
    assert row["size"] == len(stored)
