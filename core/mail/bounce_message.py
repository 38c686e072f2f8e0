"""The bounce Postal sends back to a sender whose incoming message could not be delivered (reference §4.4).

Postal's BounceMessage: to the original envelope sender, from `Mail Delivery Service <route address>`,
subject `Mail Delivery Failed (<subject>)`, a multipart/mixed body of Postal's text (its wording kept
as it is, the "Orginal" spelling included, so tools that read Postal's bounces read ours) and the
original message attached as `Original Message.eml`. Two deliberate differences: the attachment is
sent verbatim as 7bit/8bit/binary, as RFC 2046 §5.2.1 requires for message/rfc822 (Postal encodes it
quoted-printable), and the bounce carries `Auto-Submitted: auto-replied` (RFC 3834 §5).
"""

from __future__ import annotations

import hashlib
import quopri
import uuid
from datetime import UTC, datetime
from email import policy
from email.utils import format_datetime

from core.mail.address import domain_of
from core.mail.headers import normalise_line_endings

ATTACHMENT_NAME = "Original Message.eml"
SENDER_NAME = "Mail Delivery Service"
_CRLF = b"\r\n"
_MAX_LINE = 998  # RFC 5322 §2.1.1
# "all": re-render every header, so short non-ASCII values are RFC 2047-encoded too, not sent raw.
_HEADER_POLICY = policy.SMTP.clone(refold_source="all")


def build_bounce(
    original_raw: bytes,
    *,
    original_token: str,
    server_token: str,
    original_message_id: str | None,
    mail_from: str,
    rcpt_to: str,
    subject: str | None,
    from_address: str,
    postmaster_address: str,
    reason: str | None = None,
    date: datetime | None = None,
    message_id: str | None = None,
) -> bytes:
    """The raw bounce (CRLF line endings) for the message `original_raw` that `mail_from` sent to `rcpt_to`.

    `from_address` is the route's address, `subject` the original's stored subject. `reason`, when
    given, is added to the details block. `message_id` (without brackets) defaults to a random UUID
    at the domain of `from_address`; Postal uses its return-path domain there.
    """
    when = date if date is not None else datetime.now(UTC)
    if message_id is None:
        message_id = f"{uuid.uuid4()}@{domain_of(from_address) or 'localhost'}"
    original = normalise_line_endings(original_raw)
    boundary = _boundary(message_id, original)

    text = _body_text(
        from_address=from_address,
        postmaster_address=postmaster_address,
        message_token=f"{original_token}@{server_token}",
        original_message_id=original_message_id or "",
        mail_from=mail_from,
        rcpt_to=rcpt_to,
        reason=reason,
    )
    text_encoding, text_bytes = _encode_text(text)

    headers = b"".join(
        (
            _header("Date", format_datetime(when if when.tzinfo else when.replace(tzinfo=UTC))),
            _header("From", f"{SENDER_NAME} <{from_address}>"),
            _header("To", mail_from),
            _header("Message-ID", f"<{message_id}>"),
            _header("Subject", f"Mail Delivery Failed ({subject or ''})", text=True),
            _header("MIME-Version", "1.0"),
            _header("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
            _header("Auto-Submitted", "auto-replied"),
        )
    )
    delimiter = b"--" + boundary.encode("ascii")
    return b"".join(
        (
            headers,
            _CRLF,
            delimiter + _CRLF,
            b"Content-Type: text/plain; charset=UTF-8\r\n",
            b"Content-Transfer-Encoding: " + text_encoding + _CRLF,
            _CRLF,
            text_bytes,
            _CRLF + delimiter + _CRLF,
            f'Content-Type: message/rfc822; name="{ATTACHMENT_NAME}"\r\n'.encode("ascii"),
            b"Content-Transfer-Encoding: " + _attachment_encoding(original) + _CRLF,
            f'Content-Disposition: attachment; filename="{ATTACHMENT_NAME}"\r\n'.encode("ascii"),
            _CRLF,
            original,
            # The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), not to the original.
            _CRLF + delimiter + b"--" + _CRLF,
        )
    )


def _body_text(
    *,
    from_address: str,
    postmaster_address: str,
    message_token: str,
    original_message_id: str,
    mail_from: str,
    rcpt_to: str,
    reason: str | None,
) -> str:
    from_address, postmaster_address, message_token, original_message_id, mail_from, rcpt_to = (
        _one_line(value)
        for value in (from_address, postmaster_address, message_token, original_message_id, mail_from, rcpt_to)
    )
    lines = [
        f"This is the mail delivery service responsible for delivering mail to {from_address}.",
        "",
        "The message you've sent cannot be delivered. Your original message is attached to this message.",
        "",
        f"For further assistance please contact {postmaster_address}. "
        "Please include the details below to help us identify the issue.",
        "",
        f"Message Token: {message_token}",
        f"Orginal Message ID: {original_message_id}",
        f"Mail from: {mail_from}",
        f"Rcpt To: {rcpt_to}",
    ]
    if reason:
        lines.append(f"Reason: {_one_line(reason)}")
    return "\n".join(lines) + "\n"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _encode_text(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, CRLF body): 7bit when it can be, quoted-printable otherwise."""
    data = text.encode("utf-8", "replace")
    if data.isascii() and all(len(line) <= _MAX_LINE for line in data.split(b"\n")):
        return b"7bit", data.replace(b"\n", _CRLF)
    return b"quoted-printable", quopri.encodestring(data).replace(b"\n", _CRLF)


def _attachment_encoding(original: bytes) -> bytes:
    if any(len(line) > _MAX_LINE for line in original.split(_CRLF)):
        return b"binary"
    return b"7bit" if original.isascii() else b"8bit"


def _boundary(message_id: str, original: bytes) -> str:
    """A boundary that never occurs in the original, derived from the Message-ID so output is reproducible."""
    seed = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:24]
    boundary = f"--==_mimepart_{seed}"
    counter = 0
    while boundary.encode("ascii") in original:
        counter += 1
        boundary = f"--==_mimepart_{seed}_{counter}"
    return boundary


def _header(name: str, value: str, *, text: bool = False) -> bytes:
    """One header line. Whitespace runs collapse, so no value can smuggle in a line break.

    `text` values (Subject) get RFC 2047 encoded words and folding; addresses stay as they are,
    non-ASCII ones in UTF-8 (RFC 6532), since encoded words are not allowed inside an address.
    """
    value = _one_line(value)
    plain = f"{name}: {value}\r\n".encode("utf-8", "replace")
    if not text:
        return plain
    try:
        return _HEADER_POLICY.fold_binary(name, value)
    except Exception:  # a header the folder chokes on is still sent, unfolded
        return plain
