"""Property tests (hypothesis) of the mail toolkit's parsers and composers: whatever they are given,
they answer or refuse cleanly, never crash. Bounded for the suite (a few seconds per target);
`bench/fuzz.py` runs the same properties for longer."""

from __future__ import annotations

import os
import random
from email import message_from_bytes, policy
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.mail import dsn
from core.mail.compose import Attachment, Composition, compose

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "data" / "dsn").glob("*.eml"))
# In the suite: a few seconds per target. bench/fuzz.py raises the count through the environment.
EXAMPLES = int(os.environ.get("POSTAL_FUZZ_EXAMPLES", "300"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutate(data: bytes, seed: int, edits: int) -> bytes:
    """`data` with some bytes replaced, dropped or repeated, and maybe cut short: real reports gone wrong."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(edits):
        if not out:
            break
        at = rng.randrange(len(out))
        kind = rng.randrange(4)
        if kind == 0:
            out[at] = rng.randrange(256)
        elif kind == 1:
            del out[at : at + rng.randrange(1, 64)]
        elif kind == 2:
            out[at:at] = out[at : at + rng.randrange(1, 64)]
        else:
            del out[at:]
    return bytes(out)


@BOUNDED
@given(st.binary(max_size=4096))
def test_the_dsn_parser_takes_any_bytes(raw: bytes) -> None:
    report = dsn.parse(raw)
    assert isinstance(report.recipients, list)
    assert isinstance(dsn.postal_message_ids(raw), list)


@BOUNDED
@given(st.sampled_from(SAMPLES), st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=40))
def test_the_dsn_parser_takes_damaged_real_reports(sample: Path, seed: int, edits: int) -> None:
    raw = mutate(sample.read_bytes(), seed, edits)
    report = dsn.parse(raw)
    for recipient in report.recipients:
        assert recipient.final_recipient is None or isinstance(recipient.final_recipient, str)


# Text as API clients send it: any Unicode, line breaks and control characters included.
TEXT = st.text(max_size=200)
ADDRESS = st.one_of(
    st.emails().map(str),
    st.builds(lambda name, address: f"{name} <{address}>", TEXT, st.emails().map(str)),
    TEXT,
)

CONTENT_TYPE = st.one_of(st.sampled_from(["text/plain", "image/png", "application/pdf"]), TEXT)


@BOUNDED
# Found by this test: the standard library folded this From header onto a line without leading
# white space, which made its second half a header of its own.
@example(from_="00000\x80\x80\x80\x80:\U00010000<0000000000000000000", to=[], subject=None, plain=None,
         html=None, headers=[], attachments=[])  # fmt: skip
@given(
    from_=ADDRESS,
    to=st.lists(ADDRESS, max_size=3),
    subject=st.one_of(st.none(), TEXT),
    plain=st.one_of(st.none(), st.text(max_size=2000)),
    html=st.one_of(st.none(), st.text(max_size=2000)),
    headers=st.lists(st.tuples(st.text(max_size=30), TEXT), max_size=4),
    attachments=st.lists(
        st.builds(Attachment, TEXT, st.binary(max_size=300), CONTENT_TYPE),
        max_size=2,
    ),
)
def test_composed_messages_are_well_formed_whatever_the_parameters(
    from_: str, to: list[str], subject: str | None, plain: str | None, html: str | None,
    headers: list[tuple[str, str]], attachments: list[Attachment],
) -> None:  # fmt: skip
    raw = compose(
        Composition(from_=from_, to=to, subject=subject, plain_body=plain, html_body=html,
                    custom_headers=headers, attachments=attachments),
        message_id="test@example.com",
    )  # fmt: skip
    # Lines end with CRLF, no bare LF or CR, and no header is injected by a line break in a value.
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]
    assert names.count(b"from") == 1 and names.count(b"message-id") == 1
    assert names.count(b"subject") <= 1 and names.count(b"to") <= 1
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
