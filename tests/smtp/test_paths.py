"""The MAIL/RCPT path parser gives what aiosmtpd's own gives, for any argument."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from smtp.paths import parse_path

# What paths are made of, and what trips parsers up: specials, white space of several kinds,
# comments, quotes, source routes, address literals, non-ASCII.
PIECES = st.sampled_from(
    [
        *("<", ">", "@", ".", " ", "\t", "\x0c", "\r", "(", ")", '"', "\\", ":", ",", "[", "]", "=", "é", "0"),
        *("user", "a.b", "x-y", "example.com", "SIZE=100", "BODY=8BITMIME", "+tag", "<>", "!#$%&'*/=?^_`{|}~"),
    ]
)
ARGUMENTS = st.lists(PIECES, max_size=12).map("".join)


def library(arg: str, limit: int = 0) -> tuple[str | None, str | None]:
    """aiosmtpd's answer; where the standard library's parser crashes (`<`), not an address."""
    try:
        return SMTP._getaddr(SimpleNamespace(local_part_limit=limit), arg)  # type: ignore[arg-type]
    except (IndexError, AttributeError):
        return None, None


@pytest.mark.parametrize(
    "arg",
    [
        "",
        "<>",
        "<> SIZE=10",
        "<app@shop.example>",
        "<app@shop.example> SIZE=5120 BODY=8BITMIME",
        "<app@shop.example>\t \x0cSIZE=1",
        "<app@shop.example>   ",
        "<app@shop.example> (comment) SIZE=1",
        "<app@shop.example>SIZE=1",
        "<first.last+tag@sub.shop.example>",
        "<a..b@shop.example>",
        "<a@shop.example.>",
        '<"quoted local"@shop.example>',
        "<@relay.example:app@shop.example>",
        "<app@[127.0.0.1]>",
        "< app@shop.example >",
        "app@shop.example",
        "<jörg@shop.example>",
        "<app@shop.example",
        "<",
        " <",
    ],
)
def test_known_paths(arg: str) -> None:
    assert parse_path(arg) == library(arg)


def test_the_local_part_limit() -> None:
    assert parse_path("<abcdef@shop.example>", 5) == library("<abcdef@shop.example>", 5) == (None, None)
    assert parse_path("<abcde@shop.example>", 5) == ("abcde@shop.example", "")


@settings(max_examples=300, deadline=None)
@given(ARGUMENTS)
def test_any_argument(arg: str) -> None:
    assert parse_path(arg) == library(arg)
