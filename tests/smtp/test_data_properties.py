"""Property tests (hypothesis) of reading DATA (`smtp.data`; RFC 5321 §4.1.1.4, §4.5.2): whatever a
client sends after 354 and however TCP splits it, the message comes back exactly as sent
(dot-unstuffed, line endings untouched) or is refused as too large, nothing after the terminating
CRLF "." CRLF is read with it, and a live server answers once and goes on with the session. The
server does not offer CHUNKING, so BDAT is no second way in. Bounded here; `bench/fuzz.py` runs
the same properties longer."""

from __future__ import annotations

import asyncio
import itertools
import operator
import os
import re
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.mail.headers import normalise_line_endings
from models.base import table
from models.message.message import Message
from smtp import replies
from smtp.data import read_message
from tests.conftest import Installation
from tests.smtp.wire import Wire
from tests.support.incoming import route
from tests.support.outgoing import stored_raw
from tests.support.smtp_server import running_smtp_server

# In the suite: a few seconds per backend. bench/fuzz.py raises the count through the environment.
EXAMPLES = int(os.environ.get("POSTAL_FUZZ_EXAMPLES", "300"))
RELAXED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
READER = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=RELAXED)
LIVE = settings(max_examples=EXAMPLES // 3, deadline=None, suppress_health_check=RELAXED)
# Each example of the size limit sends about a megabyte.
LIVE_LARGE = settings(max_examples=max(3, EXAMPLES // 30), deadline=None, suppress_health_check=RELAXED)

# The server's reader limit (aiosmtpd's line length limit), and small ones that make every
# line a long line.
READER_LIMIT = 1001
LIMITS = st.one_of(st.just(READER_LIMIT), st.integers(min_value=1, max_value=64))
# What matters to the reader: dots at line starts, the end and its look-alikes after a bare LF or
# a bare CR (the smuggling tricks), NUL and 8-bit bytes, lines longer than the reader's limit.
PIECE = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b".", b"..", b"\r", b"\n", b"\r\n", b".\r\n", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"\n.\r\n",
                     b"\r.\r\n", b"\r\n.\n", b"\r\n.\r", b"\x00", b"\x80\xff", "é".encode()]),
    st.builds(operator.mul, st.one_of(st.binary(min_size=1, max_size=4), st.sampled_from([b".", b"a.", b"\r."])),
              st.integers(min_value=250, max_value=900)),
)  # fmt: skip
# A message as the reader returns it: empty, or ending with CRLF (the client adds the last one).
BODY = st.lists(PIECE, max_size=24).map(b"".join).map(lambda b: b if not b or b.endswith(b"\r\n") else b + b"\r\n")
# What the client sends next, pipelined or not.
NEXT = st.one_of(st.sampled_from([b"NOOP\r\n", b"RSET\r\n", b"QUIT\r\n", b"MAIL FROM:<a@b.example>\r\n"]),
                 st.lists(PIECE, max_size=4).map(b"".join))  # fmt: skip
CUTS = st.lists(st.integers(min_value=0, max_value=2**20), max_size=40)
MULTILINE = re.compile(r"\A([2-5]\d\d)([ -].*)?\Z")


def stuffed(body: bytes) -> bytes:
    """What a client sends for `body`: a dot before every line that starts with one, then the end."""
    lines = body.split(b"\r\n")[:-1]
    return b"".join((b"." if line.startswith(b".") else b"") + line + b"\r\n" for line in lines) + b".\r\n"


def end_of_data(stream: bytes) -> int | None:
    """Where the data of `stream` ends: just after the first "." CRLF at a line start."""
    if stream.startswith(b".\r\n"):
        return 3
    at = stream.find(b"\r\n.\r\n")
    return None if at < 0 else at + 5


def unstuffed(data: bytes) -> bytes:
    """The message of `data` (the stream up to the terminator): one leading dot off every line."""
    lines = data.split(b"\r\n")[:-1]
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


def chunked(data: bytes, cuts: list[int], bytewise: bool = False) -> list[bytes]:
    """`data` cut at `cuts` (modulo its length), or into single bytes."""
    if bytewise:
        return [data[i : i + 1] for i in range(len(data))]
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def read(
    chunks: list[bytes], limit: int, size_limit: int | None, later: bytes | None = None
) -> tuple[bytes | BaseException | None, bool, bytes]:
    """Feeds `chunks` to a reader one at a time, letting it run between them, and reads a message.
    With `later` the reader must have returned before `later` is fed (a reader waiting for
    bytes beyond the terminator would leave the client waiting for its reply); without, the
    stream ends after the chunks. Returns the message (or the exception raised), whether it was
    returned in time, and what is left in the reader. No clock is involved: with nothing left to
    read, the reader either has returned or waits for data."""

    async def run() -> tuple[bytes | BaseException | None, bool, bytes]:
        reader = asyncio.StreamReader(limit=limit)
        task = asyncio.ensure_future(read_message(reader, size_limit))
        for chunk in chunks:
            reader.feed_data(chunk)
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        in_time = task.done()
        if later is not None:
            reader.feed_data(later)
        reader.feed_eof()
        message: bytes | BaseException | None
        try:
            message = await task
        except Exception as error:
            message = error
        return message, in_time, await reader.read()

    return asyncio.run(run())


# -- the reader, without a socket -----------------------------------------------------------------


@READER
@given(
    body=BODY,
    after=NEXT,
    cuts=CUTS,
    bytewise=st.booleans(),
    pipelined=st.booleans(),
    limit=LIMITS,
    size=st.one_of(st.none(), st.integers(min_value=-3, max_value=3), st.integers(min_value=-5000, max_value=5000)),
)
def test_the_reader_returns_the_body_and_leaves_the_next_command(
    body: bytes, after: bytes, cuts: list[int], bytewise: bool, pipelined: bool, limit: int, size: int | None
) -> None:
    wire = stuffed(body)
    assert unstuffed(wire[:-3]) == body  # (the oracle agrees with itself)
    # The size limit near the body's size (a limit of 0 or less is no limit).
    size_limit = None if size is None else max(0, len(body) + size)
    stream = wire + after if pipelined else wire
    chunks = chunked(stream, cuts, bytewise and len(stream) <= 4000)
    message, in_time, rest = read(chunks, limit, size_limit, later=None if pipelined else after)
    assert not isinstance(message, BaseException), f"the reader raised {message!r}"
    assert in_time, "the reader waited for more than the message"
    if size_limit and len(body) > size_limit:
        assert message is None, f"{len(body)} bytes accepted with a limit of {size_limit}"
    else:
        assert message == body
    # Never a byte past the terminator: the next command is still there, whole.
    assert rest == after, "the reader consumed bytes of the next command"


@READER
@given(
    pieces=st.lists(PIECE, max_size=24),
    cuts=CUTS,
    limit=LIMITS,
    size_limit=st.one_of(st.none(), st.integers(min_value=0, max_value=3000)),
)
def test_any_bytes_end_at_the_first_crlf_dot_crlf_or_are_an_incomplete_read(
    pieces: list[bytes], cuts: list[int], limit: int, size_limit: int | None
) -> None:
    stream = b"".join(pieces)
    message, _, rest = read(chunked(stream, cuts), limit, size_limit)
    end = end_of_data(stream)
    if end is None:
        # The client went away in the middle of its data: the one error the session expects.
        assert isinstance(message, asyncio.IncompleteReadError), f"{message!r} for an unterminated stream"
        return
    assert not isinstance(message, BaseException), f"the reader raised {message!r}"
    expected = unstuffed(stream[: end - 3])
    assert message == (None if size_limit and len(expected) > size_limit else expected)
    assert rest == stream[end:], "the reader consumed bytes after the terminator"


def test_the_too_large_reply_is_well_formed() -> None:
    text = replies.R552_TOO_LARGE.format(megabytes=14)
    assert MULTILINE.match(text) and text.startswith("552 5.3.4 ")


# -- a live server ----------------------------------------------------------------------------------

SENDER = "sender@example.net"
RECIPIENT = "support@example.com"


@pytest.fixture
def incoming_port(installation: Installation, smtp_port: int) -> int:
    """The server receiving mail for a route that accepts it without authentication."""
    route(installation, RECIPIENT, mode="Accept")
    return smtp_port


@pytest.fixture
def one_megabyte_port(installation: Installation) -> Iterator[int]:
    """The same with the smallest size limit there is, one megabyte."""
    route(installation, RECIPIENT, mode="Accept")
    with running_smtp_server(installation.runtime, max_message_size=1) as port:
        yield port


def well_formed(lines: list[str]) -> str:
    """The code of a well-formed reply: every line with the same code, `-` after it on all lines
    but the last."""
    matches = [MULTILINE.match(line) for line in lines]
    assert all(matches), lines
    codes = {m.group(1) for m in matches if m}
    assert len(codes) == 1, lines
    assert all(line[3:4] == "-" for line in lines[:-1]) and lines[-1][3:4] in ("", " "), lines
    return codes.pop()


def answer(wire: Wire) -> str:
    """The code of the next reply, which must be well-formed."""
    return well_formed(wire.reply())


def open_session(port: int) -> Wire:
    wire = Wire(port)
    # Each send its own TCP segment where the kernel allows.
    wire.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert answer(wire) == "220"
    wire.send("EHLO mx.sender.example")
    assert answer(wire) == "250"
    return wire


def start_data(wire: Wire) -> None:
    for line, code in ((f"MAIL FROM:<{SENDER}>", "250"), (f"RCPT TO:<{RECIPIENT}>", "250"), ("DATA", "354")):
        wire.send(line)
        assert answer(wire) == code, line


def send_in_segments(wire: Wire, data: bytes, cuts: list[int], paced: bool) -> None:
    for chunk in chunked(data, cuts):
        wire.send(chunk)
        if paced:
            time.sleep(0.0005)  # so the server reads the pieces one by one


def newest_message(installation: Installation) -> int:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        return int(conn.scalar(select(func.max(table(Message).c.id))) or 0)


def assert_stored_as_sent(installation: Installation, message_id: int, body: bytes) -> None:
    """The stored message is our Received header and then the message byte for byte, with bare LFs
    made CRLF (what the handler does to every message)."""
    stored = stored_raw(installation, message_id)
    received, _, _ = stored.partition(b"\r\n")
    assert received.startswith(b"Received: from mx.sender.example ("), received
    sent = received + b"\r\n" + normalise_line_endings(body)
    if b"\r\n\r\n" not in sent:
        # Storage keeps the headers and the body apart and joins them with the blank line, as
        # Postal does; a message without one gains it (and an empty body line).
        sent += b"\r\n\r\n"
    assert stored == sent


@LIVE
@given(
    body=BODY,
    after=st.sampled_from(["NOOP", "RSET"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2**20), max_size=12),
    paced=st.booleans(),
)
def test_any_message_over_a_socket_gets_one_reply_and_is_stored_as_sent(
    installation: Installation, incoming_port: int, body: bytes, after: str, cuts: list[int], paced: bool
) -> None:
    before = newest_message(installation)
    with open_session(incoming_port) as wire:
        start_data(wire)
        # The next command goes in the same segments as the end of the data.
        send_in_segments(wire, stuffed(body) + f"{after}\r\n".encode(), cuts, paced)
        assert answer(wire) == "250"
        assert answer(wire) == "250", f"{after} after the message"
        wire.send("QUIT")
        assert answer(wire) == "221"
    assert newest_message(installation) == before + 1
    assert_stored_as_sent(installation, before + 1, body)


def sized(prefix: bytes, size: int, dotted: bool) -> bytes:
    """`prefix` and then lines (starting with a dot if `dotted`: the client sends more than the
    message's size, and the limit is on the message) up to `size` bytes in all."""
    line = (b"." if dotted else b"x") + b"y" * 77 + b"\r\n"
    room = size - len(prefix) - 2
    assert room >= 0
    full, tail = divmod(room, len(line))
    return prefix + line * full + b"z" * tail + b"\r\n"


@LIVE_LARGE
@given(
    prefix=st.lists(PIECE, max_size=6).map(b"".join).map(lambda b: b if b.endswith(b"\r\n") else b + b"\r\n"),
    over=st.one_of(st.integers(min_value=-3, max_value=3), st.integers(min_value=4, max_value=200_000)),
    dotted=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2**21), max_size=12),
)
def test_the_size_limit_is_answered_once_and_the_session_goes_on(
    installation: Installation, one_megabyte_port: int, prefix: bytes, over: int, dotted: bool, cuts: list[int]
) -> None:
    limit = 1024 * 1024
    body = sized(prefix, limit + over, dotted)
    before = newest_message(installation)
    with open_session(one_megabyte_port) as wire:
        start_data(wire)
        send_in_segments(wire, stuffed(body) + b"NOOP\r\n", cuts, paced=False)
        lines = wire.reply()
        assert well_formed(lines) == ("552" if len(body) > limit else "250"), (len(body), lines)
        if len(body) > limit:
            assert lines == [replies.R552_TOO_LARGE.format(megabytes=1)]
        assert answer(wire) == "250"  # the NOOP
        # The same session takes a message of its next transaction.
        start_data(wire)
        wire.send(b"Subject: next\r\n\r\nsmall\r\n.\r\n")
        assert answer(wire) == "250"
        wire.send("QUIT")
        assert answer(wire) == "221"
    stored = newest_message(installation) - before
    assert stored == (1 if len(body) > limit else 2)
    if len(body) <= limit:
        assert_stored_as_sent(installation, before + 1, body)
    assert_stored_as_sent(installation, newest_message(installation), b"Subject: next\r\n\r\nsmall\r\n")


def test_bdat_is_not_offered_and_refused_as_a_command(smtp_port: int) -> None:
    with open_session(smtp_port) as wire:
        wire.send("EHLO mx.sender.example")
        assert not any("CHUNKING" in line for line in wire.reply())
        wire.send("BDAT 3 LAST")
        assert wire.reply() == [replies.R502_UNSUPPORTED]
        wire.send("NOOP")
        assert answer(wire) == "250"
