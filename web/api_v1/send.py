"""`send/message` and `send/raw` (reference §6): build or take a message and hand it to the shared
submission function, which stores and queues one message per recipient."""

from __future__ import annotations

import base64
import re
import uuid
from email.utils import formatdate
from typing import Any

import dns.exception
import dns.resolver
import dns.reversename

from core.caches import ServerState
from core.mail.compose import DEFAULT_ATTACHMENT_TYPE, Attachment, Composition, compose, mailbox
from core.mail.headers import normalise_line_endings, parse_headers, split_raw
from core.outgoing.submission import Submission, UnauthenticatedFrom, authenticated_domain
from core.queue.enqueue import Accepted, ServerSuspended, SubmissionRejected
from web.api_v1.action import Action, Context
from web.api_v1.envelope import APIError
from web.api_v1.params import BOOLEAN, Param, strings_in

MAX_ADDRESSES = 50
TAG_LENGTH = 255  # the messages.tag column
SUSPENDED_MESSAGE = "The mail server has been suspended"

# Postal's SendController::ERROR_MESSAGES.
NO_RECIPIENTS = "There are no recipients defined to receive this message"
ERROR_MESSAGES = {
    "NoRecipients": NO_RECIPIENTS,
    "NoContent": "There is no content defined for this e-mail",
    "TooManyToAddresses": "The maximum number of To addresses has been reached (maximum 50)",
    "TooManyCCAddresses": "The maximum number of CC addresses has been reached (maximum 50)",
    "TooManyBCCAddresses": "The maximum number of BCC addresses has been reached (maximum 50)",
    "FromAddressMissing": "The From address is missing and is required",
    "UnauthenticatedFromAddress": "The From address is not authorised to send mail from this server",
    "AttachmentMissingName": "An attachment is missing a name",
    "AttachmentMissingData": "An attachment is missing data",
}

_COMMENT = re.compile(r"\(.+?\)")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


class SendError(APIError):
    """One of Postal's send errors, with its text."""

    def __init__(self, code: str) -> None:
        super().__init__(code, ERROR_MESSAGES[code])


class MessageTooLarge(APIError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            "MessageTooLarge", f"The message is larger than the maximum message size of {limit // (1024 * 1024)}MB"
        )


# -- send/message -------------------------------------------------------------------------------

MESSAGE_PARAMS = (
    Param("to", "Array"),
    Param("cc", "Array"),
    Param("bcc", "Array"),
    Param("from", "String"),
    Param("sender", "String"),
    Param("subject", "String"),
    Param("tag", "String"),
    Param("reply_to", "String"),
    Param("plain_body", "String"),
    Param("html_body", "String"),
    Param("attachments", "Array"),
    Param("headers", "Hash"),
    Param("bounce", BOOLEAN),
)


def send_message(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    to, cc, bcc = strings_in(params, "to"), strings_in(params, "cc"), strings_in(params, "bcc")
    # One line each: a line break must not add a second From to the domain check below.
    from_ = " ".join((params.get("from") or "").split())
    sender = " ".join((params.get("sender") or "").split()) or None
    recipients = [a for a in (strip_name(address) for address in to + cc + bcc) if a]
    # Postal's OutgoingMessagePrototype#validate, in its order; the first failure is the answer.
    if not recipients:
        raise SendError("NoRecipients")
    for name, addresses in (("To", to), ("CC", cc), ("BCC", bcc)):
        if len(addresses) > MAX_ADDRESSES:
            raise SendError(f"TooMany{name}Addresses")
    if _blank(params.get("plain_body")) and _blank(params.get("html_body")):
        raise SendError("NoContent")
    if _blank(from_):
        raise SendError("FromAddressMissing")
    state = _server(ctx)
    # The headers as the message will have them: the same check the submission makes on it.
    from_headers = f"From: {mailbox(from_)}\r\n" + (f"Sender: {mailbox(sender)}\r\n" if sender else "")
    if authenticated_domain(state, parse_headers(from_headers.encode("utf-8", "replace"))) is None:
        raise SendError("UnauthenticatedFromAddress")
    attachments = _attachments(params.get("attachments") or [])

    message = Composition(
        from_=from_,
        to=to,
        cc=cc,
        sender=sender,
        subject=params.get("subject"),
        reply_to=params.get("reply_to"),
        plain_body=params.get("plain_body"),
        html_body=params.get("html_body"),
        custom_headers=_custom_headers(params.get("headers") or {}),
        attachments=attachments,
    )
    message_id = f"{uuid.uuid4()}@{ctx.runtime.config.dns.return_path_domain}"
    raw = compose(message, message_id=message_id, received=received_header(ctx, state))
    _check_size(ctx, raw)
    accepted = _submit(
        ctx,
        Submission(
            server_id=ctx.auth.server_id,
            mail_from=strip_name(from_),
            rcpt_to=recipients,
            raw=raw,
            credential_id=ctx.auth.credential_id,
            received_with_ssl=True,
            tag=(params.get("tag") or None) and params["tag"][:TAG_LENGTH],
            bounce=bool(params.get("bounce")),
        ),
    )
    return _result(accepted)


def strip_name(address: str) -> str:
    """Postal's `strip_name_from_address`: `Name <a@b> (comment)` → `a@b`."""
    address = " ".join(address.split())
    if "<" in address:
        address = address[address.rfind("<") + 1 :]
    address = address.split(">", 1)[0]
    return _COMMENT.sub("", address).strip()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _attachments(items: list[Any]) -> list[Attachment]:
    """The attachments Postal would send; items that are not objects are skipped, as Postal does."""
    found: list[Attachment] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        name = "" if name is None else str(name)
        data = item.get("data")
        content = decode_base64(data) if isinstance(data, str) else b""
        if not name.strip():
            raise SendError("AttachmentMissingName")
        # Ruby's `blank?` on the decoded bytes: empty or only whitespace.
        if not content.strip():
            raise SendError("AttachmentMissingData")
        kind = item.get("content_type")
        found.append(Attachment(name, content, kind if isinstance(kind, str) and kind else DEFAULT_ATTACHMENT_TYPE))
    return found


def _custom_headers(headers: dict[str, Any]) -> list[tuple[str, str]]:
    """`headers` as (name, value) pairs; a list value makes one header per item, null none."""
    found: list[tuple[str, str]] = []
    for name, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None or isinstance(item, dict | list):
                continue
            found.append((str(name), _ruby_string(item)))
    return found


def _ruby_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def received_header(ctx: Context, state: ServerState) -> str:
    """`from api (<rDNS> [<ip>]) by <web hostname> with HTTP; <date>`, without the `from` part
    when the server asks for privacy (as the SMTP server writes its own)."""
    ours = f"by {ctx.runtime.config.postal.web_hostname} with HTTP; {formatdate()}"
    if state.server.privacy_mode:
        return ours
    return f"from api ({reverse_name(ctx.runtime.resolver, ctx.client_ip)} [{ctx.client_ip}]) {ours}"


def reverse_name(resolver: dns.resolver.Resolver, ip: str) -> str:
    """The PTR name of `ip`, or the address itself when it has none (or DNS does not answer soon)."""
    try:
        answer = resolver.resolve(dns.reversename.from_address(ip), "PTR", lifetime=2.0)
    except (dns.exception.DNSException, ValueError):
        return ip
    for record in answer:
        return str(record.target.to_text(omit_final_dot=True))
    return ip


# -- send/raw -----------------------------------------------------------------------------------

RAW_PARAMS = (
    Param("mail_from", "String", required=True),
    Param("rcpt_to", "Array", required=True),
    Param("data", "String", required=True),
    Param("bounce", BOOLEAN),
)


def send_raw(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    rcpt_to = strings_in(params, "rcpt_to")
    raw = normalise_line_endings(decode_base64(params["data"]))
    _check_size(ctx, raw)
    state = _server(ctx)
    if authenticated_domain(state, parse_headers(split_raw(raw)[0])) is None:
        raise SendError("UnauthenticatedFromAddress")
    recipients = [r.strip() for r in rcpt_to if r.strip()]
    if not recipients:
        # Postal answers success and stores nothing when `rcpt_to` is an empty array.
        return {"message_id": None, "messages": {}}
    accepted = _submit(
        ctx,
        Submission(
            server_id=ctx.auth.server_id,
            mail_from=params["mail_from"],
            rcpt_to=recipients,
            raw=raw,
            credential_id=ctx.auth.credential_id,
            received_with_ssl=True,
            bounce=bool(params.get("bounce")),
        ),
    )
    return _result(accepted)


def decode_base64(text: str) -> bytes:
    """Ruby's lenient `Base64.decode64`: characters outside the alphabet are skipped, decoding
    ends at the first `=`, missing padding is fine."""
    data = _NOT_BASE64.sub(b"", text.split("=", 1)[0].encode("ascii", "ignore"))
    if len(data) % 4 == 1:
        data = data[:-1]
    return base64.b64decode(data + b"=" * (-len(data) % 4))


# -- shared -------------------------------------------------------------------------------------


def _server(ctx: Context) -> ServerState:
    state = ctx.runtime.servers.get(ctx.auth.server_id)
    if state is None:
        raise APIError("ServerNotFound", "The mail server no longer exists")
    if state.suspended:
        raise APIError("ServerSuspended", SUSPENDED_MESSAGE)
    return state


def _check_size(ctx: Context, raw: bytes) -> None:
    limit = ctx.runtime.config.max_message_size_bytes
    if len(raw) > limit:
        raise MessageTooLarge(limit)


def _submit(ctx: Context, submission: Submission) -> Accepted:
    result = ctx.submit(submission)
    if isinstance(result, Accepted):
        return result
    raise _api_error(result)


def _api_error(rejection: SubmissionRejected) -> APIError:
    """The API's answer to a refused submission. `TemporaryError` (nothing was stored) is the one
    a client should retry, with the same Idempotency-Key if it sent one."""
    if isinstance(rejection, ServerSuspended):
        return APIError("ServerSuspended", SUSPENDED_MESSAGE)
    if isinstance(rejection, UnauthenticatedFrom):
        return SendError("UnauthenticatedFromAddress")
    return APIError(rejection.code, str(rejection))


def _result(accepted: Accepted) -> dict[str, Any]:
    return {
        "message_id": accepted.message_id,
        "messages": {rcpt: {"id": mid, "token": token} for rcpt, mid, token in accepted.messages},
    }


SEND_MESSAGE = Action(send_message, MESSAGE_PARAMS, idempotent=True)
SEND_RAW = Action(send_raw, RAW_PARAMS, idempotent=True)
