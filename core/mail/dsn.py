"""Bounce parsing: delivery status notifications (RFC 3464, RFC 3463 codes) and plain-text bounces.

A bounce arrives at a return-path address. `parse` reads what the platform needs from it: which
recipients failed and how (hard or soft), whether the reporting MTA has given up, and what links
the bounce to the outgoing message (the `X-Postal-MsgID` token and the original Message-ID).

Classification of each recipient, in this order: the Status class (or, where a DSN has no Status
or only an undefined X.0.0 one, the RFC 3463 code or SMTP reply in its Diagnostic-Code); else the
Action; else the reporting MTA's own wording (`core.mail.bounce_wording`: the diagnostic text,
then the paragraph of the prose part that names the recipient, then the whole prose).
`Action: failed` with `Status: 4.x.x` (a queue lifetime expiry) is a final but soft failure;
`Action: failed` with `Status: 5.x.x` is hard even when the last SMTP reply was a 4xx one.
A recipient whose queue lifetime the MTA's words say ran out ("Envelope expired") is final even
under `Action: delayed` (OpenSMTPD). Recipients that a report names only in its prose, or in
Exim's `X-Failed-Recipients` header, are found there.

An automatic reply (RFC 3834 `Auto-Submitted` other than `no`, `X-Autoreply`, `Precedence:
auto_reply`, an "Out of Office" subject) is no bounce, unless it carries a delivery status part or a
failure report's own wording: real bounces often say `Auto-Submitted: auto-replied` too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from core.mail import bounce_wording
from core.mail.bounce_wording import DELAY, HARD

_POSTAL_ID = re.compile(rb"X-Postal-MsgID:[ \t]*(?:\r?\n[ \t]+)?<?([A-Za-z0-9]+)", re.IGNORECASE)
_STATUS_CODE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
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
    # What the MTA's own words say of this recipient (HARD, SOFT or DELAY), used only where the
    # fields say nothing: no Status, no code in the Diagnostic-Code, no Action.
    wording: str | None = None
    # The MTA's words say it gave up on this recipient (its queue lifetime ran out), whatever its
    # Action says: OpenSMTPD reports an expired envelope as `Action: delayed`.
    expired: bool = False

    @property
    def kind(self) -> str:
        """`hard`, `soft` or `none`: the Status class decides, `delayed` is always soft."""
        if self.action in _NO_FAILURE_ACTIONS:
            return "none"
        if self.action == "delayed":
            return "soft"
        status_class = self._status_class()
        if status_class is not None:
            return {"5": "hard", "4": "soft"}.get(status_class, "none")
        if self.action == "failed":
            return "hard"
        if self.action is None and self.wording is not None:
            return "hard" if self.wording == HARD else "soft"
        return "none"

    @property
    def final(self) -> bool:
        """The reporting MTA will not try this recipient again."""
        if self.expired:
            return True
        return self.action != "delayed" and not (self.action is None and self.wording == DELAY)

    def _status_class(self) -> str | None:
        # Status is mandatory in RFC 3464; without it the SMTP reply is the next best evidence,
        # and it is better evidence than an "undefined" X.0.0 Status (Exim writes 5.0.0 for every
        # failure, the retry timeout of a 451 included).
        diagnostic = self.diagnostic_code or ""
        match = _STATUS_CODE.search(diagnostic) or _REPLY_CODE.match(diagnostic)
        if self.status and not (self.status.endswith(".0.0") and match):
            return self.status[0]
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
    # An automatic reply (out of office and the like), with what showed it; never a bounce.
    auto_reply: bool = False
    auto_reply_signs: tuple[str, ...] = ()


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
    text = next((_decoded_text(part) for part in parts if part.get_content_type() == "text/plain"), "")
    separator = _COPY_SEPARATOR.search(text)
    if separator:
        if original is None and status_part is None:
            original = HeaderParser(policy=compat32).parsestr(text[separator.end() :].lstrip("\n"))
        text = text[: separator.start()]
    failed_header = [a.lower() for _, a in getaddresses(message.get_all("X-Failed-Recipients") or []) if "@" in a]
    signs: tuple[str, ...] = ()
    if status_part is not None:
        for block in _status_blocks(status_part):
            if _RECIPIENT_FIELDS & block.keys():
                recipients.append(_recipient(block, text))
            else:
                per_message.update((name, value) for name, value in block.items() if name not in per_message)
        if not any(r.final_recipient or r.original_recipient for r in recipients):
            # A report whose fields name nobody: the recipients are in its prose.
            recipients = _prose_recipients(text, failed_header) or recipients
    else:
        subject = _header_text(_fields(message).get("subject", ""))
        signs = tuple(bounce_wording.auto_reply_signs(message, subject))
        if signs and (_from_mailer_daemon(message) or failed_header or _failure_wording(text)):
            signs = ()  # a bounce that also calls itself automatic (Exim, Exchange do)
        if not signs and (separator or failed_header or _looks_like_bounce(message)):
            recipients = _prose_recipients(text, failed_header)
            if not recipients:  # "… delivering your message to a@b.example. Gmail will retry …"
                recipients = _prose_recipients(text, _mentioned(text, message, original))

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
        reporting_mta=untyped(per_message.get("reporting-mta")),
        original_message_id=_message_id(headers.get("message-id")) or envelope_id,
        postal_message_ids=postal_message_ids(raw),
        original_headers=headers,
        auto_reply=bool(signs),
        auto_reply_signs=signs,
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


def _recipient(block: dict[str, str], prose: str) -> RecipientStatus:
    action = block.get("action", "").split()
    status = _STATUS_CODE.search(block.get("status", ""))
    address = address_field(block.get("final-recipient"))
    original = address_field(block.get("original-recipient"))
    diagnostic = untyped(block.get("diagnostic-code"))
    wording = None
    named = _paragraph_naming(prose, [a for a in (address, original) if a])
    if not status and not action:  # only then do the words decide
        wording = next(
            (kind for text in (diagnostic or "", named, prose) if (kind := bounce_wording.wording_kind(text))), None
        )
    return RecipientStatus(
        final_recipient=address,
        original_recipient=original,
        action=action[0].lower() if action else None,
        status=status.group(1) if status else None,
        diagnostic_code=diagnostic,
        remote_mta=untyped(block.get("remote-mta")),
        wording=wording,
        expired=bounce_wording.says_expired(f"{diagnostic or ''}\n{named}"),
    )


def _paragraph_naming(text: str, addresses: list[str]) -> str:
    """The paragraph of `text` that names one of `addresses` (empty if none does)."""
    lowered = [a.lower() for a in addresses]
    for paragraph in _BLANK_LINE.split(text):
        if any(a in paragraph.lower() for a in lowered):
            return paragraph
    return ""


def _prose_recipients(text: str, listed: Sequence[str] = ()) -> list[RecipientStatus]:
    """Recipients of a plain-text bounce: `<address>:` paragraphs with the status codes and wording
    in them (the whole text's wording where a paragraph has none), and those of `listed` (Exim's
    X-Failed-Recipients) the text does not name."""
    overall = bounce_wording.wording_kind(text)
    matches = list(_RECIPIENT_LINE.finditer(text))
    paragraphs: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        address = (match.group("tagged") or match.group("bare")).lower()
        paragraphs.setdefault(address, _BLANK_LINE.split(text[match.start() : end], maxsplit=1)[0])
    for address in listed:
        paragraphs.setdefault(address, _paragraph_naming(text, [address]))
    recipients = []
    for address, paragraph in paragraphs.items():
        wording = bounce_wording.wording_kind(paragraph) or overall
        code = bounce_wording.status_in_prose(paragraph)
        delayed = wording == DELAY or (overall == DELAY and code is None)
        recipients.append(
            RecipientStatus(
                final_recipient=address,
                original_recipient=None,
                action="delayed" if delayed else None,
                status=code if code and not delayed else None,
                diagnostic_code=None,
                remote_mta=None,
                wording=None if delayed else wording,
            )
        )
    return recipients


# Addresses a report mentions for the reader to write to, not recipients that failed.
_ROLE_ACCOUNTS = frozenset({"postmaster", "mailer-daemon", "abuse", "hostmaster", "webmaster", "noreply", "no-reply"})
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _mentioned(text: str, message: Message, original: Message | None) -> list[str]:
    """The addresses a report's prose mentions, but for the report's own From and To and the
    original's From (the reporting system, the return path, the sender): the recipients it is about."""
    fields = [*(message.get_all("From") or []), *(message.get_all("To") or [])]
    if original is not None:
        fields += original.get_all("From") or []
    known = {address.lower() for _, address in getaddresses([str(v) for v in fields])}
    found = [address.rstrip(".").lower() for address in _ADDRESS.findall(text)]
    found = list(dict.fromkeys(a for a in found if a not in known and a.split("@")[0] not in _ROLE_ACCOUNTS))
    # The returned original's recipients, when the text names them, are the ones it is about.
    addressed = (
        {a.lower() for _, a in getaddresses([str(v) for v in (original.get_all("To") or [])])} if original else set()
    )
    return [a for a in found if a in addressed] or found


def _failure_wording(text: str) -> bool:
    """Words only failure reports use (a status code in qmail's form, an MTA's own phrase)."""
    return bounce_wording.wording_kind(text, strong_only=True) is not None or bool(
        bounce_wording.QMAIL_STATUS.search(text)
    )


def _from_mailer_daemon(message: Message) -> bool:
    sender = parseaddr(_fields(message).get("from", ""))[1].lower()
    return sender.startswith(("mailer-daemon@", "postmaster@"))


def _looks_like_bounce(message: Message) -> bool:
    if _from_mailer_daemon(message):
        return True
    return bool(_BOUNCE_SUBJECT.search(_header_text(_fields(message).get("subject", ""))))


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


def untyped(value: str | None) -> str | None:
    """A DSN field value without its type ("dns; ", "smtp;", "rfc822;")."""
    if value is None:
        return None
    return _TYPE_PREFIX.sub("", value.strip()).strip() or None


def address_field(value: str | None) -> str | None:
    """The address of a report's field (`rfc822; <A@B>` → `a@b`), None when there is none."""
    address = untyped(value)
    if address is None:
        return None
    return address.strip("<>").strip().lower() or None


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    match = _ANGLE_ADDR.search(value)
    return (match.group(1) if match else value.strip()) or None
