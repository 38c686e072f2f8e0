"""The address of MAIL FROM and RCPT TO (RFC 5321 §4.1.2), parsed as aiosmtpd's `SMTP._getaddr`
parses it, faster.

aiosmtpd hands every path to the standard library's RFC 5322 parser (`get_angle_addr`), which
builds a token tree for two words, and it defines a `typing.Protocol` class on every call: the two
took a tenth of the SMTP server's CPU. Nearly every path is `<dot-atom@dot-atom>`, optionally
followed by parameters; those are read with one regular expression, giving what the library
parser gives for them. Anything else (quoted local parts, comments, source routes, address
literals, non-ASCII, a missing `<`) still goes through the library parser, with aiosmtpd's rules;
where that parser crashes (`MAIL FROM:<`) the path is refused as not an address.
"""

from __future__ import annotations

import re
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError

# RFC 5322 atext; a dot-atom is atoms joined by single dots.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
# `<local@domain>` and what follows it.
_SIMPLE_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>(.*)\Z", re.S)


def _simple(arg: str) -> tuple[str, str] | None:
    """(address, rest) of `<dot-atom@dot-atom>`, then nothing or white space and parameters; as
    `get_angle_addr` reads it: white space after the `>` is skipped (`str.lstrip`'s)."""
    match = _SIMPLE_PATH.match(arg)
    if match is None:
        return None
    after = match.group(2)
    if not after:
        return match.group(1), ""
    if after[0] not in " \t":
        return None
    rest = after.lstrip()
    # A comment there would be skipped too: the library parser knows how.
    return None if rest.startswith("(") else (match.group(1), rest)


def parse_path(arg: str, local_part_limit: int = 0) -> tuple[str | None, str | None]:
    """(address, the rest of the argument) of a MAIL or RCPT argument; (None, None) when it is
    not an address, ("", "") when it is empty, ("<>", rest) for the null path."""
    if not arg:
        return "", ""
    simple = _simple(arg)
    if simple is not None:
        address, rest = simple
    else:
        try:
            token, rest = get_angle_addr(arg) if arg.lstrip().startswith("<") else get_addr_spec(arg)
            address = token.addr_spec
        except (HeaderParseError, IndexError, AttributeError):
            # (The library parser crashes on some malformed paths, `<` for one.)
            return None, None
    if local_part_limit and len(address.rpartition("@")[0]) > local_part_limit:
        return None, None
    return address, rest
