"""Rewriting the text parts of a raw message in place, keeping every other byte as it was.

The tracking rewrite (reference §3.5) changes the text of the `text/plain` and `text/html` parts
of a message. Postal re-serialises the whole message with the mail gem; here the message is cut
at its MIME boundaries (RFC 2046 §5.1.1) and only the parts whose text changed are replaced, so
the multipart structure, attachments, inline images and untouched parts survive byte for byte.
A rewritten part is decoded from its transfer encoding and charset and re-encoded as UTF-8: 7bit
when it is ASCII with short lines, quoted-printable otherwise (RFC 5322 §2.1.1 limits lines to
998 characters, and 8bit data needs the 8BITMIME extension on every hop).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from collections.abc import Callable
from email.message import Message

from core.mail.headers import parse_headers

# (subtype "plain" or "html", the decoded text) → the new text, or None when nothing changed.
Rewriter = Callable[[str, str], str | None]

# Postal recurses into these multipart parts below the top level.
NESTED_MULTIPART = frozenset({"alternative", "related"})
# RFC 1847: rewriting inside a signed or encrypted body would only break it.
UNTOUCHABLE_MULTIPART = frozenset({"signed", "encrypted"})
MAX_LINE = 998
_CRLF = b"\r\n"
_FIELD_START = re.compile(rb"^(?![ \t])", re.MULTILINE)
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")


def rewrite_text_parts(header_block: bytes, body: bytes, rewriter: Rewriter) -> tuple[bytes, bytes] | None:
    """The message's header block and body with its text parts rewritten, or None when no part
    changed. A single-part message's own headers change with its text (charset, encoding)."""
    headers = parse_headers(header_block)
    if headers.get_content_maintype() == "multipart":
        if headers.get_content_subtype() in UNTOUCHABLE_MULTIPART:
            return None
        new_body = _rewrite_multipart(body, headers.get_boundary(), rewriter)
        return (header_block, new_body) if new_body is not None else None
    return _rewrite_leaf(header_block, headers, body, rewriter)


def _rewrite_multipart(body: bytes, boundary: str | None, rewriter: Rewriter) -> bytes | None:
    """The multipart body with its rewritten parts spliced in; None when none changed."""
    if not boundary:
        return None
    # RFC 2046 §5.1.1: a delimiter line starts the body or follows a CRLF (which belongs to it),
    # may carry transport padding, and the close delimiter ends in `--`.
    delimiter = re.compile(
        rb"(?:\A|\r\n)--" + re.escape(boundary.encode("ascii", "surrogateescape")) + rb"(--)?[ \t]*(?:\r\n|\Z)"
    )
    matches = list(delimiter.finditer(body))
    spans: list[tuple[int, int]] = []
    for current, following in zip(matches, [*matches[1:], None], strict=True):
        if current.group(1):  # the close delimiter: what follows is the epilogue
            break
        spans.append((current.end(), following.start() if following is not None else len(body)))
    changed = False
    out: list[bytes] = []
    position = 0
    for start, end in spans:
        replacement = _rewrite_part(body[start:end], rewriter)
        if replacement is not None:
            out += [body[position:start], replacement]
            position = end
            changed = True
    if not changed:
        return None
    out.append(body[position:])
    return b"".join(out)


def _rewrite_part(part: bytes, rewriter: Rewriter) -> bytes | None:
    if part.startswith(_CRLF):  # no headers at all: a text/plain part by default (RFC 2045 §5.2)
        header_block, body = b"", part[2:]
    else:
        header_block, _, body = part.partition(b"\r\n\r\n")
    headers = parse_headers(header_block)
    if headers.get_content_maintype() == "multipart":
        if headers.get_content_subtype() not in NESTED_MULTIPART:
            return None
        new_body = _rewrite_multipart(body, headers.get_boundary(), rewriter)
        return header_block + b"\r\n\r\n" + new_body if new_body is not None else None
    rewritten = _rewrite_leaf(header_block, headers, body, rewriter)
    if rewritten is None:
        return None
    new_headers, new_body = rewritten
    return new_headers + b"\r\n\r\n" + new_body


def _rewrite_leaf(header_block: bytes, headers: Message, body: bytes, rewriter: Rewriter) -> tuple[bytes, bytes] | None:
    subtype = headers.get_content_subtype()
    if headers.get_content_maintype() != "text" or subtype not in ("plain", "html"):
        return None
    # An attached text file is the sender's data, not the message's text.
    if str(headers.get("Content-Disposition", "")).strip().lower().startswith("attachment"):
        return None
    data = _decode_transfer(body, str(headers.get("Content-Transfer-Encoding", "7bit")).strip().lower())
    if data is None:
        return None
    text = _decode_charset(data, headers.get_content_charset() or "us-ascii")
    if text is None:
        return None
    new_text = rewriter(subtype, text)
    if new_text is None:
        return None
    encoding, new_body = encode_text(new_text)
    return _with_utf8_headers(header_block, headers, encoding), new_body


def _decode_transfer(body: bytes, encoding: str) -> bytes | None:
    """The body without its transfer encoding; None for an encoding we cannot read (left alone)."""
    if encoding in ("7bit", "8bit", "binary", ""):
        return body
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body) + b"==")
        except (binascii.Error, ValueError):
            return None
    return None


def _decode_charset(data: bytes, charset: str) -> str | None:
    """The text in its declared charset; None when it does not decode (the part stays as it is,
    rather than losing characters). Undeclared 8-bit text is read as UTF-8, its usual meaning."""
    if charset in ("us-ascii", "ascii"):
        charset = "utf-8"
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return None


def encode_text(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body) of `text` as UTF-8 with CRLF line ends."""
    data = text.replace("\r\n", "\n").encode("utf-8")
    if data.isascii() and all(len(line) <= MAX_LINE for line in data.split(b"\n")):
        return "7bit", data.replace(b"\n", _CRLF)
    return "quoted-printable", quopri.encodestring(data).replace(b"\n", _CRLF)


def _with_utf8_headers(header_block: bytes, headers: Message, encoding: str) -> bytes:
    """The header block with `charset=UTF-8` in its Content-Type (other parameters kept) and the
    new Content-Transfer-Encoding; every other field stays byte for byte."""
    content_type = Message()
    content_type["Content-Type"] = _UNFOLD.sub(" ", str(headers.get("Content-Type", "text/plain")))
    content_type.set_param("charset", "UTF-8")
    replacement = [
        f"Content-Type: {content_type['Content-Type']}\r\n".encode("ascii", "surrogateescape"),
        f"Content-Transfer-Encoding: {encoding}\r\n".encode("ascii"),
    ]
    fields = [f for f in _FIELD_START.split(header_block + _CRLF) if f] if header_block else []
    out: list[bytes] = []
    for field in fields:
        name = field.split(b":", 1)[0].strip().lower()
        if name == b"content-type":
            out += replacement
            replacement = []
        elif name != b"content-transfer-encoding":
            out.append(field if field.endswith(_CRLF) else field + _CRLF)
    out += replacement
    return b"".join(out)[:-2]
