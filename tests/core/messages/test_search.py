"""Postal's message search syntax: terms, quoting, repeats, dates, subject words, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, insert, select

from core.errors import ValidationError
from core.messages.search import MESSAGES, Search, parse


def epoch(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_each_term_becomes_its_column() -> None:
    search = parse(
        "to:a@example.net from:b@example.com status:held tag:news msgid:<x@y> id:7 token:abc spam:no words here"
    )
    assert search.terms == {
        "to": ["a@example.net"],
        "from": ["b@example.com"],
        "status": ["Held"],
        "tag": ["news"],
        "msgid": ["x@y"],
        "id": [7],
        "token": ["abc"],
    }
    assert (search.spam, search.words) == (False, ["words", "here"])


def test_quotes_repeats_blanks_and_spaces_after_the_colon() -> None:
    search = parse('tag:"big news" tag:[blank] to: a@example.net "exact phrase" STATUS:sent status:HardFail')
    assert search.terms == {"tag": ["big news", None], "to": ["a@example.net"], "status": ["Sent", "HardFail"]}
    assert search.words == ["exact phrase"]
    assert parse("").where() is None and parse("   ").terms == {}


def test_dates_and_date_times_are_utc() -> None:
    search = parse('after:2024-01-31 before:"2024-02-01 13:45"')
    assert (search.after, search.before) == (epoch(2024, 1, 31), epoch(2024, 2, 1, 13, 45))
    # The unquoted date-time form, as Postal reads it.
    assert parse("before:2024-02-01 13:45 invoice").before == epoch(2024, 2, 1, 13, 45)
    assert parse("before:2024-02-01 13:45 invoice").words == ["invoice"]
    # Given twice, the narrower bound wins.
    assert parse("after:2024-01-01 after:2024-03-01").after == epoch(2024, 3, 1)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("colour:red", "unknown term colour:"),
        ("Re: hello", "unknown term re:"),
        ("after:yesterday", "after:"),
        ("before:2024-02-30", "before:"),
        ('after:"2024-01-01 25:00"', "after:"),
        ("status:lost", "status:"),
        ("id:12a", "id:"),
        ("id:[blank]", "id:"),
        ("to:", "to: needs a value"),
        ("spam:maybe", "spam:"),
    ],
)
def test_bad_terms_are_refused_by_name(query: str, named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse(query)
    assert refused.value.field == "q" and named in refused.value.message


def test_the_conditions_select_the_right_rows() -> None:
    engine = create_engine("sqlite://")
    MESSAGES.create(engine)
    rows = [
        {"id": 1, "token": "t1", "scope": "outgoing", "rcpt_to": "a@x.net", "subject": "Invoice 100%", "tag": "bill",
         "timestamp": epoch(2024, 1, 1), "status": "Sent", "spam": False},
        {"id": 2, "token": "t2", "scope": "outgoing", "rcpt_to": "b@x.net", "subject": "Welcome_home", "tag": None,
         "timestamp": epoch(2024, 2, 1), "status": "Held", "spam": True},
        {"id": 3, "token": "t3", "scope": "incoming", "rcpt_to": "a@x.net", "subject": None, "tag": None,
         "timestamp": epoch(2024, 3, 1), "status": "Pending", "spam": False},
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(MESSAGES), rows)

    def found(query: str) -> list[int]:
        search: Search = parse(query)
        statement = select(MESSAGES.c.id).order_by(MESSAGES.c.id)
        where = search.where()
        with engine.connect() as conn:
            return list(conn.scalars(statement if where is None else statement.where(where)))

    assert found("") == [1, 2, 3]
    assert found("to:a@x.net") == [1, 3]
    assert found("to:a@x.net to:b@x.net status:held") == [2]
    assert found("tag:[blank]") == [2, 3]
    assert found("INVOICE") == [1]
    # LIKE wildcards in a word are matched literally.
    assert found("100%") == [1] and found("_") == [2] and found("%") == [1]
    assert found("after:2024-01-15 before:2024-02-15") == [2]
    assert found("spam:yes") == [2]
    assert found("id:3 token:t3") == [3] and found("id:3 token:t1") == []
