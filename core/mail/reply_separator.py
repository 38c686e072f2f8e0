"""Splitting a plain-text body into the new text and the quoted replies, as Postal's ReplySeparator does.

HTTP endpoints with `strip_replies` receive the first part as `plain_body` and the second as
`replies_from_plain_body` (reference §4.3). The rules are Postal's, applied in Postal's order; each
removes every match from the text. Ruby anchors `^`/`$` at every line (Python's MULTILINE), Ruby's
`/m` lets `.` cross newlines (Python's DOTALL) and Ruby's `\\s` is ASCII-only (Python's ASCII).

Most of Postal's rules start `^>*\\s*`, and `\\s` crosses line breaks: tried from every line start,
as a regex engine does, a run of blank lines costs quadratic time (200,000 blank lines took minutes).
Those rules are split into that prefix and a tail, and `_quoted_spans` finds the same leftmost
matches while trying each run of blank lines once.
"""

from __future__ import annotations

import re

_LINES = re.MULTILINE | re.ASCII
_TO_END = _LINES | re.DOTALL

# Possessive: every tail starts with a character that is neither `>` nor whitespace, so giving
# characters back to the tail could never make it match.
_QUOTE_PREFIX = re.compile(r">*+\s*+", re.ASCII)
# Each rule is (pattern, prefixed): a prefixed pattern is the tail that follows Postal's `^>*\s*`.
RULES: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"^-{2,10} $.*", _TO_END), False),  # the "-- " signature delimiter and all below it
    (re.compile(r"----- ?Original Message ?-----.*", _TO_END), True),
    (re.compile(r"From:[^\r\n]*[\r\n]+Sent:.*", _TO_END), True),  # Outlook's quoted header block
    (re.compile(r"From:[^\r\n]*[\r\n]+Date:.*", _TO_END), True),
    (re.compile(r"-----Urspr.ngliche Nachricht----- .*", _TO_END), True),
    # Postal gives this French rule no /m flag, so it removes the attribution line only.
    (re.compile(r"Le[^\r\n]{10,200}a .crit ?:\s*$.*", _LINES), True),
    (re.compile(r"__________________.*", _TO_END), True),
    (re.compile(r"On.{10,200}wrote:\s*$.*", _TO_END), True),  # the attribution may wrap over lines
    (re.compile(r"Sent from my.*", _TO_END), True),
    (re.compile(r"=== Please reply above this line ===.*", _TO_END), True),
    (re.compile(r"(^>.*\n?){10,}", _LINES), False),  # ten or more consecutive quoted lines anywhere
)

# Ruby's String#strip: ASCII whitespace and NUL, not Unicode spaces.
_RUBY_WHITESPACE = " \t\n\v\f\r\x00"
_BLANK = " \t\v\f\r"


def separate(plain: str | None) -> tuple[str, str]:
    """(new text, quoted replies), both stripped; the replies are "" when nothing was cut.

    Postal reports "no replies" as nil; callers that build its payloads turn "" back into None.
    Removed pieces are collected last-removed first, as Postal prepends each one.
    """
    if not plain:
        return "", ""
    text = plain.replace("\r", "")
    removed: list[str] = []
    for pattern, prefixed in RULES:
        spans = _quoted_spans(pattern, text) if prefixed else [match.span() for match in pattern.finditer(text)]
        kept: list[str] = []
        position = 0
        for start, end in spans:
            kept.append(text[position:start])
            removed.insert(0, text[start:end])
            position = end
        kept.append(text[position:])
        text = "".join(kept)
    replies = "".join(piece + "\n" for piece in removed)
    return text.strip(_RUBY_WHITESPACE), replies.strip(_RUBY_WHITESPACE)


def _quoted_spans(tail: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """The non-overlapping leftmost matches of `^>*\\s*` + `tail`, as a regex search would find them.

    A line start after a blank line (one of spaces only) needs no try of its own unless it begins
    with `>`: the try from that blank line's start crossed the same whitespace to the same place.
    """
    spans: list[tuple[int, int]] = []
    last_end = 0
    previous_start, previous_blank = -1, False
    start = 0
    while True:
        line_end = text.find("\n", start)
        if line_end < 0:
            line_end = len(text)
        covered = previous_blank and previous_start >= last_end and not text.startswith(">", start)
        if start >= last_end and not covered:
            prefix = _QUOTE_PREFIX.match(text, start)
            match = tail.match(text, prefix.end() if prefix else start)
            if match:
                spans.append((start, match.end()))
                last_end = match.end()
        previous_start, previous_blank = start, not text[start:line_end].strip(_BLANK)
        if line_end >= len(text):
            return spans
        start = line_end + 1
