"""The request body an HTTP endpoint receives for an incoming message (reference §4.3).

Field names, order and value types are Postal's (HTTPSender#parameters):

* `Hash` format: `size` is a string (Postal's messages.size column is a varchar), `timestamp` a
  float, `subject` the stored subject (the first 200 characters, "" when there is none),
  `message_id` without angle brackets, `reply_to` every Reply-To header value or None.
* `RawMessage` format: the raw message in base64, `size` an integer.
* base64 is Ruby's `Base64.encode64`: lines of 60 characters, each ending in "\\n".
* `BodyAsJSON` is Rails' `to_json`: compact, UTF-8, with `<`, `>`, `&`, U+2028 and U+2029 escaped.
* `FormData` is Ruby's `URI.encode_www_form` (what Net::HTTP#set_form_data sends): a list repeats
  its key without brackets (`reply_to=a&reply_to=b`), None is the bare key (`cc`), booleans are
  `true`/`false`, and only `*-._` and alphanumerics stay unescaped (space is `+`). Postal itself
  flattens attachments to `attachments[i][filename|content_type|size|data]` with `size` a string
  and `content_type` the full Content-Type value; `hash_payload(..., flat=True)` builds exactly
  that. Any other nested value is flattened Rails-style (`key[sub]`, `key[i][sub]`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from core.mail.content import MailContent, parse
from core.mail.reply_separator import separate
from models.enums import HTTPEncoding, HTTPFormat

JSON_CONTENT_TYPE = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_SUBJECT_LENGTH = 200  # Postal copies the first 200 characters of Subject into messages.subject
_BASE64_LINE = 60
_FORM_SAFE = frozenset(b"*-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


@dataclass(frozen=True)
class IncomingMail:
    """The stored incoming message a payload describes."""

    id: int
    token: str
    rcpt_to: str
    mail_from: str
    timestamp: float
    size: int
    spam_status: str  # "NotChecked", "NotSpam" or "Spam"
    bounce: bool
    received_with_ssl: bool
    raw: bytes


@dataclass(frozen=True)
class EndpointOptions:
    """The parts of an HTTP endpoint that shape its request body."""

    format: HTTPFormat = HTTPFormat.HASH
    encoding: HTTPEncoding = HTTPEncoding.BODY_AS_JSON
    strip_replies: bool = False
    include_attachments: bool = True


def request_body(mail: IncomingMail, options: EndpointOptions) -> tuple[bytes, str]:
    """The body and Content-Type to POST to an endpoint for `mail`."""
    encoding = HTTPEncoding(options.encoding)
    if HTTPFormat(options.format) is HTTPFormat.RAW_MESSAGE:
        payload = raw_payload(mail)
    else:
        payload = hash_payload(
            mail,
            strip_replies=options.strip_replies,
            include_attachments=options.include_attachments,
            flat=encoding is HTTPEncoding.FORM_DATA,
        )
    return encode_body(payload, encoding)


def hash_payload(
    mail: IncomingMail,
    strip_replies: bool,
    include_attachments: bool,
    *,
    flat: bool = False,
    content: MailContent | None = None,
) -> dict[str, Any]:
    """Postal's `Hash` format; `flat` gives the attachment keys Postal uses for form data.

    `content` may be passed when the caller has already parsed `mail.raw`.
    """
    content = content if content is not None else parse(mail.raw)
    payload: dict[str, Any] = {
        "id": mail.id,
        "rcpt_to": mail.rcpt_to,
        "mail_from": mail.mail_from,
        "token": mail.token,
        "subject": (content.subject or "")[:_SUBJECT_LENGTH],
        "message_id": content.message_id,
        "timestamp": float(mail.timestamp),
        "size": str(mail.size),
        "spam_status": mail.spam_status,
        "bounce": bool(mail.bounce),
        "received_with_ssl": bool(mail.received_with_ssl),
        "to": content.to,
        "cc": content.cc,
        "from": content.from_,
        "date": content.date,
        "in_reply_to": content.in_reply_to,
        "references": content.references,
        "html_body": content.html_body,
        "attachment_quantity": len(content.attachments),
        "auto_submitted": content.auto_submitted,
        "reply_to": list(content.reply_to) or None,
    }
    if strip_replies:
        # Postal's separator returns a bare "" for a missing body, which leaves the replies nil.
        plain, replies = separate(content.plain_body)
        payload["plain_body"] = plain
        payload["replies_from_plain_body"] = replies or None
    else:
        payload["plain_body"] = content.plain_body
    if include_attachments:
        if flat:
            for index, attachment in enumerate(content.attachments):
                prefix = f"attachments[{index}]"
                payload[f"{prefix}[filename]"] = attachment.filename
                payload[f"{prefix}[content_type]"] = attachment.content_type_header or attachment.content_type
                payload[f"{prefix}[size]"] = str(len(attachment.data))
                payload[f"{prefix}[data]"] = ruby_base64(attachment.data)
        else:
            payload["attachments"] = [
                {
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": len(attachment.data),
                    "data": ruby_base64(attachment.data),
                }
                for attachment in content.attachments
            ]
    return payload


def raw_payload(mail: IncomingMail) -> dict[str, Any]:
    """Postal's `RawMessage` format."""
    return {
        "id": mail.id,
        "rcpt_to": mail.rcpt_to,
        "mail_from": mail.mail_from,
        "message": ruby_base64(mail.raw),
        "base64": True,
        "size": int(mail.size),
    }


def encode_body(payload: dict[str, Any], encoding: HTTPEncoding | str) -> tuple[bytes, str]:
    """(body, Content-Type) for `payload` in the endpoint's encoding."""
    if HTTPEncoding(encoding) is HTTPEncoding.FORM_DATA:
        return form_encode(payload).encode("ascii"), FORM_CONTENT_TYPE
    # "replace": a lone surrogate (an undecodable byte kept by a lenient reader) must not fail a delivery.
    return rails_json(payload).encode("utf-8", "replace"), JSON_CONTENT_TYPE


def ruby_base64(data: bytes) -> str:
    """Ruby's `Base64.encode64`: RFC 2045 lines of 60 characters, every one ending in a newline."""
    encoded = base64.b64encode(data).decode("ascii")
    return "".join(encoded[i : i + _BASE64_LINE] + "\n" for i in range(0, len(encoded), _BASE64_LINE))


def rails_json(payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # The escaped characters only ever occur inside JSON strings, so replacing them is safe.
    return "".join(_JSON_ESCAPES.get(char, char) for char in text)


def form_encode(payload: dict[str, Any]) -> str:
    """`URI.encode_www_form` over `payload`, with nested dicts and lists of dicts flattened."""
    return "&".join(_form_pair(key, value) for key, value in _flatten(payload))


def _flatten(payload: dict[str, Any], prefix: str | None = None) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for key, value in payload.items():
        name = f"{prefix}[{key}]" if prefix is not None else str(key)
        if isinstance(value, dict):
            pairs.extend(_flatten(value, name))
        elif isinstance(value, list | tuple) and any(isinstance(item, dict | list | tuple) for item in value):
            pairs.extend(_flatten({str(index): item for index, item in enumerate(value)}, name))
        else:
            pairs.append((name, value))
    return pairs


def _form_pair(key: str, value: Any) -> str:
    if value is None:
        return _form_component(key)
    if isinstance(value, list | tuple):
        return "&".join(
            _form_component(key) if item is None else f"{_form_component(key)}={_form_component(_ruby_str(item))}"
            for item in value
        )
    return f"{_form_component(key)}={_form_component(_ruby_str(value))}"


def _ruby_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _form_component(text: str) -> str:
    """Ruby's `URI.encode_www_form_component`: UTF-8, space as `+`, all but `*-._` and alphanumerics escaped."""
    return "".join(
        chr(byte) if byte in _FORM_SAFE else "+" if byte == 0x20 else f"%{byte:02X}"
        for byte in text.encode("utf-8", "replace")
    )
