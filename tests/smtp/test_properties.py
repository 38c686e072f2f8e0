"""Property test (hypothesis) of the SMTP server's command parser: any sequence of command lines
gets a well-formed reply to each line (or a well-formed reply and then a closed connection), and
the server goes on serving the next client. Bounded here; `bench/fuzz.py` runs it longer."""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.smtp.wire import Wire

REPLY = re.compile(r"\A[2-5]\d\d([ -].*)?\Z")
EXAMPLES = int(os.environ.get("POSTAL_FUZZ_EXAMPLES", "300")) // 3
VERBS = ["EHLO", "HELO", "MAIL FROM:", "RCPT TO:", "DATA", "RSET", "NOOP", "VRFY", "HELP", "AUTH", "STARTTLS",
         "BDAT", "EXPN", "XCLIENT", "PROXY", ""]  # fmt: skip
# A line's text: anything but the CR and LF that end it (and NUL-free text is not required).
ARGUMENT = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
LINE = st.builds(lambda verb, sep, arg: verb.encode() + sep + arg, st.sampled_from(VERBS),
                 st.sampled_from([b"", b" ", b"  ", b"\t"]), ARGUMENT)  # fmt: skip


def _answered(wire: Wire) -> str | None:
    """The code of one well-formed reply; None when the server closed the connection instead."""
    try:
        lines = wire.reply()
    except (EOFError, ConnectionResetError):
        return None
    assert lines and all(REPLY.match(line) for line in lines), lines
    return lines[-1][:3]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(LINE, min_size=1, max_size=6))
def test_every_command_line_gets_a_well_formed_reply(smtp_port: int, lines: list[bytes]) -> None:
    with Wire(smtp_port) as wire:
        assert _answered(wire) is not None  # the greeting
        for line in lines:
            try:
                wire.send(line + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            code = _answered(wire)
            if code is None:
                break
            if code in ("334", "354"):
                # Inside AUTH (334) or DATA (354): end it so that the next line is a command again.
                try:
                    wire.send(b"*\r\n" if code == "334" else b"\r\n.\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break
                if _answered(wire) is None:
                    break
    with Wire(smtp_port) as again:
        assert _answered(again) is not None, "the server stopped serving after that client"
