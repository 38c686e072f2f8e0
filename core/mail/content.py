"""Reading a raw RFC 5322 message into the headers, bodies and attachments that payloads carry.

This mirrors what Postal reads through Ruby's mail gem (reference §4.3):

* header values are the *last* value of each header, RFC 2047-decoded and unfolded; address
  headers are re-rendered as `Name <addr>, addr`; Date is normalised to `%a, %d %b %Y %H:%M:%S %z`
  (the mail gem re-formats every parseable Date); Reply-To keeps every header value.
* the plain and HTML bodies are the first `text/plain` / `text/html` part that is not an attachment,
  searched depth-first without entering attached messages; a single-part message without a
  Content-Type is plain text. Text is decoded with its charset (unknown ones as UTF-8), never
  raising, and with LF line endings, as the mail gem's 7bit/quoted-printable decoders leave it.
* attachments are the leaf parts of a multipart message that have a filename, are attached
  messages (`message/rfc822`), or are marked `Content-Disposition: attachment`, minus the bodies.

Nothing here raises on a malformed message: whatever cannot be read is None or empty.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value, format_datetime, getaddresses, parsedate_to_datetime
from typing import NamedTuple, TypeVar

from core.mail.headers import decode_value

_T = TypeVar("_T")
_PARSER = BytesParser(policy=policy.default)
_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z|~]+$")
_WANTED = frozenset(
    {"subject", "message-id", "to", "cc", "from", "date", "in-reply-to", "references", "reply-to", "auto-submitted"}
)
# The stdlib's structured header parser slows down badly on huge values (a 700 kB To header takes
# seconds); past this size a value is only RFC 2047-decoded.
_STRUCTURED_LIMIT = 32 * 1024


class Attachment(NamedTuple):
    filename: str | None
    content_type: str  # the MIME type alone, "application/pdf"
    data: bytes
    # The whole Content-Type value with its parameters, "application/pdf; name=report.pdf":
    # Postal sends this one (the mail gem's `content_type`) in form-encoded payloads.
    content_type_header: str = ""


@dataclass(frozen=True)
class MailContent:
    subject: str | None = None
    message_id: str | None = None  # without angle brackets, as Postal stores it
    to: str | None = None
    cc: str | None = None
    from_: str | None = None  # the From header; `from` is a Python keyword
    date: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    reply_to: list[str] = field(default_factory=list)  # one entry per Reply-To header, as Postal sends it
    auto_submitted: str | None = None
    plain_body: str | None = None
    html_body: str | None = None
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def reply_to_addresses(self) -> list[str]:
        """Every bare address in the Reply-To headers."""
        return [address for _, address in getaddresses(self.reply_to) if address]


def parse(raw: bytes) -> MailContent:
    """Everything a payload needs from `raw`; a part that cannot be read is left out, never raised."""
    try:
        message = _PARSER.parsebytes(raw)
    except Exception:  # the parser is lenient, but a raw message must never crash a delivery
        return MailContent()
    headers: dict[str, list[str]] = _safely(lambda: _header_values(message), {})

    def last(name: str) -> str | None:
        values = headers.get(name)
        return values[-1] if values else None

    nothing: tuple[Message | None, Message | None, list[Attachment]] = (None, None, [])
    plain_part, html_part, attachments = _safely(lambda: _find_parts(message), nothing)
    return MailContent(
        subject=last("subject"),
        message_id=_bare_message_id(last("message-id")),
        to=last("to"),
        cc=last("cc"),
        from_=last("from"),
        date=_normalised_date(last("date")),
        in_reply_to=last("in-reply-to"),
        references=last("references"),
        reply_to=headers.get("reply-to", []),
        auto_submitted=last("auto-submitted"),
        plain_body=_safely(lambda: _text(plain_part), None) if plain_part is not None else None,
        html_body=_safely(lambda: _text(html_part), None) if html_part is not None else None,
        attachments=attachments,
    )


def _safely(read: Callable[[], _T], default: _T) -> _T:
    try:
        return read()
    except Exception:  # see parse(): one unreadable part must not lose the rest
        return default


def _header_values(message: Message) -> dict[str, list[str]]:
    """Decoded values of the top-level headers payloads use, by lower-case name, in order."""
    values: dict[str, list[str]] = {}
    for name, raw_value in message.raw_items():
        if name.lower() in _WANTED:
            values.setdefault(name.lower(), []).append(_decoded_header(message, name, str(raw_value)))
    return values


def _decoded_header(message: Message, name: str, raw_value: str) -> str:
    value: str | None = None
    if len(raw_value) <= _STRUCTURED_LIMIT:
        # The stdlib's header parser has raised on odd input before: fall back to plain decoding.
        value = _safely(lambda: str(message.policy.header_fetch_parse(name, raw_value)), None)
    if value is None:
        value = _safely(lambda: decode_value(raw_value), None) or raw_value
    return _clean(" ".join(value.split()) if "\n" in value or "\r" in value else value)


def _clean(text: str) -> str:
    """Raw 8-bit header bytes come back as surrogate escapes; read them as UTF-8 instead."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a surrogate that stands for no byte
            return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _bare_message_id(value: str | None) -> str | None:
    """Postal's `gsub(/.*</, "").gsub(/>.*/, "").strip`: what lies between the last `<` and the next `>`.

    Done with string methods: `.*<` searched from every position is quadratic on a long value.
    """
    if value is None:
        return None
    lines = [line[line.rfind("<") + 1 :].split(">", 1)[0] for line in value.split("\n")]
    return "\n".join(lines).strip()


def _normalised_date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return value
    if parsed.tzinfo is None:  # "-0000" (RFC 5322 §3.3): the mail gem renders it as +0000
        return format_datetime(parsed).replace("-0000", "+0000")
    return format_datetime(parsed)


def _leaves(part: Message) -> Iterator[Message]:
    """Sub-parts depth-first, not entering attached messages (the mail gem leaves them whole)."""
    payload = part.get_payload()
    if not part.is_multipart() or not isinstance(payload, list) or part.get_content_maintype() == "message":
        yield part
        return
    for child in payload:
        if isinstance(child, Message):
            yield from _leaves(child)


def _find_parts(message: Message) -> tuple[Message | None, Message | None, list[Attachment]]:
    if not message.is_multipart() or message.get_content_maintype() == "message":
        kind = message.get_content_type()
        return (message if kind == "text/plain" else None), (message if kind == "text/html" else None), []
    plain: Message | None = None
    html: Message | None = None
    others: list[Message] = []
    for leaf in _leaves(message):
        if _filename(leaf) is None and leaf.get_content_type() != "message/rfc822":
            if plain is None and leaf.get_content_type() == "text/plain":
                plain = leaf
                continue
            if html is None and leaf.get_content_type() == "text/html":
                html = leaf
                continue
        others.append(leaf)
    attachments = [attachment for leaf in others if (attachment := _attachment(leaf)) is not None]
    return plain, html, attachments


def _is_attachment(part: Message) -> bool:
    return (
        _filename(part) is not None
        or part.get_content_type() == "message/rfc822"
        or (part.get_content_disposition() or "") == "attachment"
    )


def _filename(part: Message) -> str | None:
    """Content-Type `name` first, then Content-Disposition `filename` (the mail gem's order)."""
    return _safely(lambda: _read_filename(part), None)


def _read_filename(part: Message) -> str | None:
    name = part.get_param("name", header="content-type")
    value = collapse_rfc2231_value(name) if name is not None and not isinstance(name, str) else name
    if not value:
        value = part.get_filename()
    if not value:
        return None
    decoded = decode_value(value) if "=?" in value else value
    return _clean(decoded or value)


def _attachment(part: Message) -> Attachment | None:
    """The part as an attachment, or None when it is not one or cannot be read."""
    return _safely(lambda: _read_attachment(part) if _is_attachment(part) else None, None)


def _read_attachment(part: Message) -> Attachment:
    data = _payload_bytes(part)
    filename = _filename(part)
    if filename is None and part.get_content_type() == "message/rfc822":
        # Postal names an unnamed attached message "<rand(100_000_000)>.eml"; a digest of the
        # content keeps the same shape and makes the name reproducible.
        filename = f"{int.from_bytes(hashlib.sha256(data).digest()[:8], 'big') % 100_000_000}.eml"
    return Attachment(filename, part.get_content_type(), data, _content_type_header(part))


def _payload_bytes(part: Message) -> bytes:
    if part.get_content_maintype() == "message" or part.is_multipart():
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        if isinstance(inner, Message):
            return inner.as_bytes(policy=policy.compat32.clone(linesep="\r\n", max_line_length=0))
        return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _content_type_header(part: Message) -> str:
    """`type/subtype; key=value` as the mail gem renders it, quoting only values that need it."""
    rendered = part.get_content_type()
    for key, value in (part.get_params(header="content-type", unquote=True) or [])[1:]:
        text = _clean(collapse_rfc2231_value(value) if not isinstance(value, str) else value)
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        rendered += f"; {key}={text}" if _TOKEN.match(text) else f'; {key}="{quoted}"'
    return rendered


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError, TypeError):  # unknown or unusable charset: UTF-8 is the best guess
        text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")
