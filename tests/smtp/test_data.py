"""Reading DATA: where a message ends (SMTP smuggling), dot-unstuffing, long lines, the size limit."""

from __future__ import annotations

import asyncio

import pytest

from smtp.data import read_message


def read(stream: bytes, size_limit: int | None = None, limit: int = 1001) -> tuple[bytes | None, bytes]:
    """The message read from `stream`, and what is left in the stream after it."""

    async def run() -> tuple[bytes | None, bytes]:
        reader = asyncio.StreamReader(limit=limit)
        reader.feed_data(stream)
        reader.feed_eof()
        message = await read_message(reader, size_limit)
        return message, await reader.read()

    return asyncio.run(run())


def test_ends_at_crlf_dot_crlf_and_leaves_the_rest() -> None:
    assert read(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n") == (b"Subject: x\r\n\r\nbody\r\n", b"QUIT\r\n")


def test_empty_message() -> None:
    assert read(b".\r\n") == (b"", b"")


def test_dots_are_unstuffed_at_line_starts_only() -> None:
    assert read(b"..\r\n..x\r\na.b\r\n.\r\n")[0] == b".\r\n.x\r\na.b\r\n"


@pytest.mark.parametrize("fake_end", [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r"])
def test_end_look_alikes_are_data(fake_end: bytes) -> None:
    smuggled = b"MAIL FROM:<a@b.example>\r\n"
    message, rest = read(b"body" + fake_end + smuggled + b".\r\nNOOP\r\n")
    assert message is not None and smuggled in message
    assert rest == b"NOOP\r\n"


def test_lines_longer_than_the_reader_limit_are_kept_whole() -> None:
    line = b"z" * 50 + b"\r" + b"z" * 50  # a bare CR at a piece boundary is still data
    assert read(line + b"\r\n.\r\n", limit=16) == (line + b"\r\n", b"")


def test_a_dot_after_a_long_line_is_not_unstuffed_mid_line() -> None:
    line = b"a" * 20 + b".b"
    assert read(line + b"\r\n.\r\n", limit=20)[0] == line + b"\r\n"


def test_too_large_is_none_but_read_to_the_end() -> None:
    assert read(b"12345\r\n6789\r\n.\r\nNOOP\r\n", size_limit=10) == (None, b"NOOP\r\n")
    assert read(b"12345\r\n678\r\n.\r\n", size_limit=12) == (b"12345\r\n678\r\n", b"")


def test_the_end_of_the_stream_is_an_error() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        read(b"no end\r\n")
