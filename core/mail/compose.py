"""Building a MIME message from the parts an API client gives (Postal's OutgoingMessagePrototype).

The shape follows what Postal sends for `send/message` (reference §6): the Received trace header on
top (RFC 5321 §4.4 says trace headers are prepended), the client's custom headers, then To, Cc,
From, Sender, Subject, Reply-To, Date, Message-ID; the body is `multipart/mixed` holding a
`multipart/alternative` (text part, then the HTML part as `text/html; charset=UTF-8`) followed by
the attachments, base64-encoded. Display names and subjects outside ASCII become RFC 2047 encoded
words. Bcc addresses are recipients only and never appear in the headers.

Headers this module writes itself are never taken from the custom headers, so a client cannot set
a second From or smuggle a Bcc; every value is cut to one line so none can inject a header.
"""

from __future__ import annotations

import base64
import quopri
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.utils import format_datetime, formataddr, getaddresses, quote, unquote

_CRLF = b"\r\n"
_MAX_LINE = 998  # RFC 5322 §2.1.1
# "all": re-render every header, so short non-ASCII values are RFC 2047-encoded too, not sent raw.
_HEADER_POLICY = policy.SMTP.clone(refold_source="all")
# RFC 5322 §3.6.8 field names: printable ASCII except the colon.
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")
# RFC 2045 §5.1 type/subtype tokens.
_MIME_TYPE = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+/[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$")
# `name <address>` where the name holds no address: one mailbox, whatever punctuation the name has.
_NAMED_ADDRESS = re.compile(r"^([^<>@]*)<([^<>]+)>$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$")
DEFAULT_ATTACHMENT_TYPE = "application/octet-stream"

# Written by `compose` from its own fields: custom headers of these names are dropped.
RESERVED_HEADERS = frozenset(
    {
        "received",
        "to",
        "cc",
        "bcc",
        "from",
        "sender",
        "subject",
        "reply-to",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes
    content_type: str = DEFAULT_ATTACHMENT_TYPE


@dataclass(frozen=True)
class Composition:
    """What the client asked for. Address values may carry display names (`Name <a@b>`)."""

    from_: str
    to: Sequence[str] = ()
    cc: Sequence[str] = ()
    sender: str | None = None
    subject: str | None = None
    reply_to: str | None = None
    plain_body: str | None = None
    html_body: str | None = None
    custom_headers: Sequence[tuple[str, str]] = ()
    attachments: Sequence[Attachment] = field(default_factory=tuple)


def compose(
    message: Composition,
    *,
    message_id: str,
    received: str | None = None,
    date: datetime | None = None,
    boundary_token: str | None = None,
) -> bytes:
    """The raw message (CRLF line endings). `message_id` is without angle brackets; `received` is
    the Received header's value, left out when None."""
    when = date if date is not None else datetime.now(UTC)
    token = boundary_token if boundary_token is not None else secrets.token_hex(12)
    headers: list[bytes] = []
    if received is not None:
        headers.append(_plain_header("Received", received))
    for name, value in message.custom_headers:
        if _FIELD_NAME.match(name) and name.lower() not in RESERVED_HEADERS:
            headers.append(_text_header(name, value))
    if message.to:
        headers.append(_address_header("To", ", ".join(mailbox(a) for a in message.to)))
    if message.cc:
        headers.append(_address_header("Cc", ", ".join(mailbox(a) for a in message.cc)))
    headers.append(_address_header("From", mailbox(message.from_)))
    if message.sender:
        headers.append(_address_header("Sender", mailbox(message.sender)))
    if message.subject:
        headers.append(_text_header("Subject", message.subject))
    if message.reply_to:
        headers.append(_address_header("Reply-To", mailbox(message.reply_to)))
    headers.append(_plain_header("Date", format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))))
    headers.append(_plain_header("Message-ID", f"<{_one_line(message_id)}>"))
    headers.append(b"MIME-Version: 1.0\r\n")

    mixed = f"--==_mimepart_{token}"
    alternative = f"--==_mimepart_{token}_alt"
    texts: list[bytes] = []
    if _present(message.plain_body):
        texts.append(_text_part("text/plain; charset=UTF-8", message.plain_body or ""))
    if _present(message.html_body):
        texts.append(_text_part("text/html; charset=UTF-8", message.html_body or ""))
    parts = [
        f'Content-Type: multipart/alternative;\r\n boundary="{alternative}"\r\n\r\n'.encode("ascii")
        + _multipart_body(alternative, texts)
    ]
    parts += [_attachment_part(a) for a in message.attachments]
    headers.append(f'Content-Type: multipart/mixed;\r\n boundary="{mixed}"\r\n'.encode("ascii"))
    return b"".join(headers) + _CRLF + _multipart_body(mixed, parts)


def _present(text: str | None) -> bool:
    """Ruby's `present?`: not nil and not only whitespace (Postal leaves such bodies out)."""
    return bool(text and text.strip())


def _multipart_body(boundary: str, parts: Sequence[bytes]) -> bytes:
    delimiter = b"--" + boundary.encode("ascii")
    out = [delimiter + _CRLF + part + _CRLF for part in parts]
    # RFC 2046 §5.1.1: the CRLF before each delimiter belongs to the delimiter.
    return b"".join(out) + delimiter + b"--" + _CRLF


def _text_part(content_type: str, text: str) -> bytes:
    """A text part: 7bit when it can be, quoted-printable otherwise (as the mail gem chooses)."""
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8", "replace")
    if data.isascii() and all(len(line) <= _MAX_LINE for line in data.split(b"\n")):
        encoding, body = b"7bit", data.replace(b"\n", _CRLF)
    else:
        encoding, body = b"quoted-printable", quopri.encodestring(data).replace(b"\n", _CRLF)
    return (
        f"Content-Type: {content_type}\r\n".encode("ascii")
        + b"Content-Transfer-Encoding: "
        + encoding
        + _CRLF
        + _CRLF
        + body
    )


def _attachment_part(attachment: Attachment) -> bytes:
    kind = attachment.content_type.strip().lower()
    if not _MIME_TYPE.match(kind):
        kind = DEFAULT_ATTACHMENT_TYPE
    name = _one_line(attachment.name)
    encoded = base64.encodebytes(attachment.data).replace(b"\n", _CRLF)
    return (
        f"Content-Type: {kind};\r\n {_parameter('name', name)}\r\n".encode("ascii")
        + b"Content-Transfer-Encoding: base64\r\n"
        + f"Content-Disposition: attachment;\r\n {_parameter('filename', name)}\r\n".encode("ascii")
        + _CRLF
        + encoded
    )


def _parameter(key: str, value: str) -> str:
    """`key="value"`, or RFC 2231 `key*=utf-8''…` for a value outside ASCII."""
    if value.isascii():
        return f'{key}="{quote(value)}"'
    encoded = "".join(
        chr(b) if _TOKEN.match(chr(b)) and chr(b) not in "*'%" else f"%{b:02X}" for b in value.encode("utf-8")
    )
    return f"{key}*=utf-8''{encoded}"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _plain_header(name: str, value: str) -> bytes:
    return f"{name}: {_one_line(value)}\r\n".encode("utf-8", "replace")


def _text_header(name: str, value: str) -> bytes:
    """An unstructured header: RFC 2047 encoded words outside ASCII, folded at 78 characters."""
    value = _one_line(value)
    try:
        folded = _HEADER_POLICY.fold_binary(name, value)
    except Exception:  # a value the folder chokes on is still sent, unfolded
        return _plain_header(name, value)
    # The standard library's folder can start a continuation line without white space for some
    # values (encoded words next to specials such as ":" and "<"), which would make the rest a
    # header of its own: such a value is sent unfolded instead.
    if any(line[:1] not in (b" ", b"\t") for line in folded.split(b"\r\n")[1:-1]):
        return _plain_header(name, value)
    return folded


def mailbox(value: str) -> str:
    """`Smith, John <js@example.com>` as `"Smith, John" <js@example.com>`: a display name with
    specials is quoted, so the header reads as the one address it is (Postal takes everything
    before the last `<` as the name). Values that already parse as one address, and lists of
    addresses, stay as they are."""
    value = _one_line(value)
    if len(getaddresses([value])) == 1:
        return value
    match = _NAMED_ADDRESS.match(value)
    if match is None:
        return value
    return formataddr((unquote(match.group(1).strip()), match.group(2).strip()))


def _address_header(name: str, value: str) -> bytes:
    """An address list: display names outside ASCII become encoded words; an address itself
    outside ASCII cannot (RFC 2047 §5), so such a header is sent as UTF-8 (RFC 6532)."""
    value = _one_line(value)
    if any(not address.isascii() for _, address in getaddresses([value])):
        return _plain_header(name, value)
    return _text_header(name, value)
