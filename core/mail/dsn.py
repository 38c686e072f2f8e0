"""Bounce parsing: delivery status notifications (RFC 3464, RFC 3463 codes) and plain-text bounces.

A bounce arrives at a return-path address. `parse` reads what the platform needs from it: which
recipients failed and how (hard or soft), whether the reporting MTA has given up, and what links
the bounce to the outgoing message (the `X-Postal-MsgID` token and the original Message-ID).

Classification: the Status class wins over the Action and over the SMTP reply in Diagnostic-Code.
`Action: failed` with `Status: 4.x.x` (a queue lifetime expiry) is a final but soft failure;
`Action: failed` with `Status: 5.x.x` is hard even when the last SMTP reply was a 4xx one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from email.utils import parseaddr

_POSTAL_ID = re.compile(rb"X-Postal-MsgID:[ \t]*(?:\r?\n[ \t]+)?<?([A-Za-z0-9]+)", re.IGNORECASE)
_STATUS_CODE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_QMAIL_CODE = re.compile(r"\(#([245]\.\d{1,3}\.\d{1,3})\)")
_REPLY_CODE = re.compile(r"^([245])\d\d(?![\d.])")
_TYPE_PREFIX = re.compile(r"^[A-Za-z][\w.-]*[ \t]*;[ \t]*")  # "rfc822;", "dns; ", "smtp;", "X-Postfix;"
_ANGLE_ADDR = re.compile(r"<([^<>\s]+)>")
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
# qmail: "--- Below this line is a copy of the message."; Exim: "------ This is a copy of the message, ..."
_COPY_SEPARATOR = re.compile(
    r"^-{2,} ?(?:Below this line is a copy of the message|This is a copy of the message"
    r"|Enclosed (?:is a copy|are the original headers) of the message)[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
# "<user@example.com>: explanation" (qmail, Postfix) or a line holding only an address (Exim).
_RECIPIENT_LINE = re.compile(
    r"^(?:<(?P<tagged>[^\s<>@]+@[^\s<>]+)>:|[ \t]*<?(?P<bare>[^\s<>:@]+@[^\s<>:]+?)>?:?[ \t]*$)",
    re.MULTILINE,
)
_BOUNCE_SUBJECT = re.compile(
    r"failure notice|undeliver|returned mail|returning message|delivery (?:status notification|fail)"
    r"|mail delivery (?:failed|system)|delivery has failed|non-?delivery",
    re.IGNORECASE,
)
_DELAY_WORDING = re.compile(
    r"warning only|still being retried|has not yet been delivered|will (?:continue|be retried)", re.IGNORECASE
)
_PERMANENT_WORDING = re.compile(r"\bpermanent(?:ly)?\b|I've given up", re.IGNORECASE)

_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_NO_FAILURE_ACTIONS = frozenset({"delivered", "relayed", "expanded"})
_RECIPIENT_FIELDS = frozenset({"final-recipient", "original-recipient", "action", "status"})
_ORIGINAL_HEADERS = ("from", "to", "subject", "message-id")


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN, or one recipient found in the text of a plain bounce."""

    final_recipient: str | None  # address only, lower-cased, without the "rfc822;" type
    original_recipient: str | None
    action: str | None  # lower-cased: failed, delayed, delivered, relayed, expanded (None in plain text)
    status: str | None  # RFC 3463 code such as "5.1.1"
    diagnostic_code: str | None  # without the "smtp;" type, unfolded
    remote_mta: str | None

    @property
    def kind(self) -> str:
        """`hard`, `soft` or `none`: the Status class decides, `delayed` is always soft."""
        if self.action in _NO_FAILURE_ACTIONS:
            return "none"
        if self.action == "delayed":
            return "soft"
        status_class = self._status_class()
        if status_class == "5" or (status_class is None and self.action == "failed"):
            return "hard"
        return "soft" if status_class == "4" else "none"

    @property
    def final(self) -> bool:
        """The reporting MTA will not try this recipient again."""
        return self.action != "delayed"

    def _status_class(self) -> str | None:
        if self.status:
            return self.status[0]
        # Status is mandatory in RFC 3464; without it the SMTP reply is the next best evidence.
        diagnostic = self.diagnostic_code or ""
        match = _STATUS_CODE.search(diagnostic) or _REPLY_CODE.match(diagnostic)
        return match.group(1)[0] if match else None


@dataclass(frozen=True)
class DSNReport:
    """A parsed bounce; a message that is no bounce at all gives no recipients and kind "none"."""

    is_bounce: bool  # a final failure of at least one recipient: not a delay warning, not a success report
    kind: str  # "hard" if any recipient is hard, else "soft" if any is soft, else "none"
    final: bool  # the reporting MTA has given up on at least one recipient (not only "delayed" ones)
    recipients: list[RecipientStatus]
    reporting_mta: str | None
    original_message_id: str | None  # without <>; from the returned original, else Original-Envelope-Id
    postal_message_ids: list[str]  # every X-Postal-MsgID token in the raw bytes, as Postal links bounces
    original_headers: dict[str, str]  # from, to, subject, message-id of the returned original, when present


def postal_message_ids(raw: bytes) -> list[str]:
    """Every `X-Postal-MsgID` token anywhere in the raw message, in order of appearance, without repeats."""
    tokens = (match.group(1).decode("ascii") for match in _POSTAL_ID.finditer(raw))
    return list(dict.fromkeys(tokens))


def parse(raw: bytes) -> DSNReport:
    """What a message arriving at a return-path address says about deliveries; tolerant of malformed input."""
    message = message_from_bytes(raw, policy=compat32)
    parts = list(_parts(message))
    original = _returned_original(parts[1:])
    recipients: list[RecipientStatus] = []
    per_message: dict[str, str] = {}
    status_part = next((part for part in parts if part.get_content_type() in _STATUS_TYPES), None)
    if status_part is not None:
        for block in _status_blocks(status_part):
            if _RECIPIENT_FIELDS & block.keys():
                recipients.append(_recipient(block))
            else:
                per_message.update((name, value) for name, value in block.items() if name not in per_message)
    else:
        text = next((_decoded_text(part) for part in parts if part.get_content_type() == "text/plain"), "")
        separator = _COPY_SEPARATOR.search(text)
        if separator:
            if original is None:
                original = HeaderParser(policy=compat32).parsestr(text[separator.end() :].lstrip("\n"))
            text = text[: separator.start()]
        if separator or _looks_like_bounce(message):
            recipients = _prose_recipients(text)

    kinds = {recipient.kind for recipient in recipients}
    headers = _original_headers(original)
    # Some MTAs (Haraka) put the original's Message-ID into Original-Envelope-Id, which is meant for an ENVID.
    envelope_id = _message_id(per_message.get("original-envelope-id"))
    if envelope_id is not None and "@" not in envelope_id:
        envelope_id = None
    return DSNReport(
        is_bounce=any(r.final and r.kind != "none" for r in recipients),
        kind="hard" if "hard" in kinds else "soft" if "soft" in kinds else "none",
        final=any(recipient.final for recipient in recipients),
        recipients=recipients,
        reporting_mta=_untyped(per_message.get("reporting-mta")),
        original_message_id=_message_id(headers.get("message-id")) or envelope_id,
        postal_message_ids=postal_message_ids(raw),
        original_headers=headers,
    )


def _parts(message: Message) -> Iterator[Message]:
    """The message and its MIME parts, without descending into attached messages."""
    yield message
    payload = message.get_payload()
    if message.get_content_maintype() == "multipart" and isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _parts(part)


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The field blocks of a delivery-status part, names lower-cased, values unfolded."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _text_blocks(_decoded_text(part))
    # The parser splits message/delivery-status into one header block per field block; other message/*
    # types (message/global-delivery-status) come back as one message whose body holds the later blocks.
    blocks: list[dict[str, str]] = []
    for block in payload:
        if isinstance(block, Message):
            blocks += [_fields(block), *_text_blocks(_decoded_text(block))]
    return blocks


def _text_blocks(text: str) -> list[dict[str, str]]:
    chunks = (chunk.strip() for chunk in _BLANK_LINE.split(text))
    return [_fields(HeaderParser(policy=compat32).parsestr(chunk)) for chunk in chunks if chunk]


def _fields(message: Message) -> dict[str, str]:
    """A header block as a dict: names lower-cased, values unfolded, raw 8-bit text read as UTF-8."""
    fields: dict[str, str] = {}
    for name, value in message.raw_items():
        text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        fields.setdefault(name.strip().lower(), " ".join(text.split()))
    return fields


def _recipient(block: dict[str, str]) -> RecipientStatus:
    action = block.get("action", "").split()
    status = _STATUS_CODE.search(block.get("status", ""))
    return RecipientStatus(
        final_recipient=_address(block.get("final-recipient")),
        original_recipient=_address(block.get("original-recipient")),
        action=action[0].lower() if action else None,
        status=status.group(1) if status else None,
        diagnostic_code=_untyped(block.get("diagnostic-code")),
        remote_mta=_untyped(block.get("remote-mta")),
    )


def _prose_recipients(text: str) -> list[RecipientStatus]:
    """Recipients of a plain-text bounce: `<address>:` paragraphs and the codes in them."""
    delayed = bool(_DELAY_WORDING.search(text))
    default_status = "4.0.0" if delayed else "5.0.0" if _PERMANENT_WORDING.search(text) else None
    matches = list(_RECIPIENT_LINE.finditer(text))
    recipients: dict[str, RecipientStatus] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        paragraph = _BLANK_LINE.split(text[match.start() : end], maxsplit=1)[0]
        code = _QMAIL_CODE.search(paragraph) or _STATUS_CODE.search(paragraph)
        address = (match.group("tagged") or match.group("bare")).lower()
        if address not in recipients:
            recipients[address] = RecipientStatus(
                final_recipient=address,
                original_recipient=None,
                action="delayed" if delayed else None,
                status=code.group(1) if code else default_status,
                diagnostic_code=None,
                remote_mta=None,
            )
    return list(recipients.values())


def _looks_like_bounce(message: Message) -> bool:
    fields = _fields(message)
    sender = parseaddr(fields.get("from", ""))[1].lower()
    if sender.startswith(("mailer-daemon@", "postmaster@")):
        return True
    return bool(_BOUNCE_SUBJECT.search(_header_text(fields.get("subject", ""))))


def _returned_original(parts: list[Message]) -> Message | None:
    """The headers of the returned original: an attached message or a text/rfc822-headers part."""
    for part in parts:
        content_type = part.get_content_type()
        if content_type == "text/rfc822-headers":
            headers = part.get_payload(decode=True)
            if isinstance(headers, bytes):
                return BytesHeaderParser(policy=compat32).parsebytes(headers.lstrip(b"\r\n"))
        elif part.get_content_maintype() == "message" and content_type not in _STATUS_TYPES:
            payload = part.get_payload()  # message/rfc822, message/global, message/global-headers
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return HeaderParser(policy=compat32).parsestr(payload.lstrip("\r\n"))
    return None


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        text = payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:
        text = payload.decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def _original_headers(original: Message | None) -> dict[str, str]:
    fields = _fields(original) if original is not None else {}
    return {name: _header_text(fields[name]) for name in _ORIGINAL_HEADERS if name in fields}


def _header_text(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded and folding removed."""
    text = " ".join(value.split())
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeError, LookupError, ValueError):
        return text


def _untyped(value: str | None) -> str | None:
    """A DSN field value without its type ("dns; ", "smtp;", "rfc822;")."""
    if value is None:
        return None
    return _TYPE_PREFIX.sub("", value.strip()).strip() or None


def _address(value: str | None) -> str | None:
    address = _untyped(value)
    if address is None:
        return None
    return address.strip("<>").strip().lower() or None


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = _ANGLE_ADDR.search(value)
    return (match.group(1) if match else value.strip()) or None
