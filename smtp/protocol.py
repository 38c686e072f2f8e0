"""Postal's SMTP commands, replies and states (reference §5), on `SMTPConnection`.

Where Postal and aiosmtpd differ, Postal wins: AUTH without EHLO, a new MAIL simply starts a new
transaction, the `AUTH=` parameter of MAIL is discarded, RCPT parameters are ignored, and every
refusal is worded as Postal words it (with RFC 3463 codes, `smtp.replies`). The decisions (who may
send, which recipients exist) are the handler's.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiosmtpd.smtp import MISSING, AuthResult

from core import metrics
from smtp import replies
from smtp.connection import ServerState, SMTPConnection
from smtp.data import read_message
from smtp.handler import Handler
from smtp.paths import parse_path

log = logging.getLogger(__name__)

# Postal's AUTH mechanisms, in the order it advertises them.
MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")

_MAIL_FROM = re.compile(r"FROM\s*:\s*(.*)\Z", re.I | re.S)
_RCPT_TO = re.compile(r"TO\s*:\s*(.*)\Z", re.I | re.S)


class PostalSMTP(SMTPConnection):
    """One connection speaking like Postal."""

    def __init__(self, handler: Handler, shared: ServerState, **kwargs: Any) -> None:
        self._mail_given = False
        self._refused_for_failures = False
        super().__init__(handler, shared, **kwargs)
        self.commands = {
            "HELO": self.smtp_HELO,
            "EHLO": self.smtp_EHLO,
            "NOOP": self.smtp_NOOP,
            "RSET": self.smtp_RSET,
            "QUIT": self.smtp_QUIT,
            "STARTTLS": self.smtp_STARTTLS,
            "AUTH": self.smtp_AUTH,
            "MAIL": self.smtp_MAIL,
            "RCPT": self.smtp_RCPT,
            "DATA": self.smtp_DATA,
        }

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd's parse, without building a token tree for the usual `<local@domain>`.
        return parse_path(arg, self.local_part_limit)

    def _set_post_data_state(self) -> None:
        super()._set_post_data_state()
        self._mail_given = False

    # -- commands -----------------------------------------------------------------------------

    async def smtp_HELO(self, hostname: str | None) -> None:
        await self._hello("HELO", hostname)

    async def smtp_EHLO(self, hostname: str | None) -> None:
        await self._hello("EHLO", hostname)

    async def _hello(self, command: str, hostname: str | None) -> None:
        metrics.SMTP_COMMANDS.labels(command=command).inc()
        if not hostname:
            await self.push(replies.R501_HELO_SYNTAX.format(command=command))
            return
        assert self.session is not None
        self._set_rset_state()
        self.session.host_name = hostname
        self.session.extended_smtp = command == "EHLO"
        if command == "HELO":
            await self.push(replies.R250_HELO.format(hostname=self.hostname))
            return
        lines = [replies.EHLO_FIRST_LINE, *self.extensions()]
        await self.push("\r\n".join(f"250-{text}" for text in lines[:-1]) + f"\r\n250 {lines[-1]}")

    def extensions(self) -> list[str]:
        """What EHLO advertises: Postal's STARTTLS and AUTH, plus what this server supports that
        Postal does not announce (RFC 1870, 6152, 2920, 2034)."""
        advertised = [f"SIZE {self.data_size_limit}", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"]
        if self.shared.tls is not None and self._tls_protocol is None:
            advertised.append("STARTTLS")
        if self._auth_allowed():
            advertised.append("AUTH " + " ".join(MECHANISMS))
        return advertised

    def _auth_allowed(self) -> bool:
        return not self.shared.settings.require_tls_for_auth or self._tls_protocol is not None

    async def smtp_NOOP(self, arg: str | None) -> None:
        await self.push(replies.R250_OK)

    async def smtp_RSET(self, arg: str | None) -> None:
        metrics.SMTP_COMMANDS.labels(command="RSET").inc()
        self._set_rset_state()
        await self.push(replies.R250_OK)

    async def smtp_QUIT(self, arg: str | None) -> None:
        await self.push(replies.R221_CLOSING)
        self._close()

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        if self.shared.tls is None:
            await self.push(replies.R502_TLS_NOT_AVAILABLE)
            return
        if self._tls_protocol is not None:
            await self.push(replies.R503_TLS_ACTIVE)
            return
        # Postal counts this as `STARTLS` (a typo of v3, reference §12); the command's name here.
        metrics.SMTP_COMMANDS.labels(command="STARTTLS").inc()
        await self.push(replies.R220_READY_FOR_TLS)
        await self._start_tls()

    async def smtp_AUTH(self, arg: str | None) -> None:
        # Postal allows AUTH before EHLO; RFC 4954 §4 refuses a second one.
        assert self.session is not None
        ip = self.client_ip()
        if self.session.authenticated:
            await self.push(replies.R503_ALREADY_AUTHENTICATED)
            return
        if not self._auth_allowed():
            await self.push(replies.R538_ENCRYPTION_REQUIRED)
            return
        if self.shared.auth_failures.blocked(ip):
            if self._refused_for_failures:
                # Told to come back later and did not listen: end the session.
                await self.push(replies.R421_TOO_MANY_AUTH_FAILURES)
                self._close()
            else:
                self._refused_for_failures = True
                await self.push(replies.R454_TOO_MANY_AUTH_FAILURES)
            return
        args = (arg or "").split()
        if not args or len(args) > 2:
            await self.push(replies.R501_AUTH_SYNTAX)
            return
        args[0] = args[0].upper()
        mechanism = self._auth_methods.get(args[0])
        if args[0] not in MECHANISMS or mechanism is None:
            await self.push(replies.R504_UNKNOWN_MECHANISM)
            return
        metrics.SMTP_COMMANDS.labels(command=f"AUTH {args[0]}").inc()
        # The credential look-up is the handler's work (no idle clock), the client's answers to
        # challenges are not (`challenge_auth`).
        self._busy += 1
        try:
            result = await mechanism.method(self, args)
        finally:
            self._busy -= 1
        if isinstance(result, AuthResult) and result.success:
            self.session.authenticated = True
            self.session.auth_data = result.auth_data
            await self.push(result.message or "235 2.7.0 Authentication successful")
            return
        status = None
        if isinstance(result, AuthResult) and not result.handled:
            status = result.message or replies.R535_INVALID_CREDENTIAL
        # A temporary failure of ours is not the client's fault; anything else counts.
        if status is None or not status.startswith("4"):
            log.warning("AUTH %s failure for %s", args[0], ip)
            self.shared.auth_failures.record_failure(ip)
        if status is not None:
            await self.push(status)

    async def challenge_auth(
        self, challenge: str | bytes, encode_to_b64: bool = True, log_client_response: bool = False
    ) -> Any:
        self._busy -= 1
        try:
            return await super().challenge_auth(challenge, encode_to_b64, log_client_response)
        finally:
            self._busy += 1

    async def smtp_MAIL(self, arg: str | None) -> None:
        assert self.session is not None
        if not self.session.host_name:
            await self.push(replies.R503_HELO_FIRST)
            return
        match = _MAIL_FROM.match(arg or "")
        address, rest = self._getaddr(match.group(1)) if match else (None, None)
        params = self._getparams(rest.upper().split()) if rest is not None else None
        if address is None or params is None:
            await self.push(replies.R501_MAIL_SYNTAX)
            return
        params.pop("AUTH", None)  # Postal discards it: no client is trusted to vouch for a sender
        params.pop("SMTPUTF8", None)  # arguments are read as UTF-8 anyway
        if params.pop("BODY", "7BIT") not in ("7BIT", "8BITMIME"):
            await self.push(replies.R501_BODY_PARAMETER)
            return
        size = params.pop("SIZE", None)
        if size is not None and (not isinstance(size, str) or not size.isdigit()):
            await self.push(replies.R501_MAIL_SYNTAX)
            return
        if isinstance(size, str) and self.data_size_limit and int(size) > self.data_size_limit:
            # RFC 1870 §6.1: refuse a declared size at once rather than after the data.
            await self.push(replies.R552_TOO_LARGE.format(megabytes=self.shared.settings.max_message_size))
            return
        if params:
            await self.push(replies.R555_MAIL_PARAMETERS)
            return
        # A new MAIL starts a new transaction (Postal), and `<>` is the null sender.
        self._set_rset_state()
        assert self.envelope is not None
        sender = "" if address == "<>" else address
        options = [o for o in (rest or "").upper().split() if not o.startswith("AUTH=")]
        status = await self._call_handler_hook("MAIL", sender, options)
        if status is MISSING:
            self.envelope.mail_from = sender
            status = replies.R250_SENDER_OK
        self._mail_given = status.startswith("250")
        await self.push(status)

    async def smtp_RCPT(self, arg: str | None) -> None:
        if not self._mail_given:
            await self.push(replies.R503_MAIL_FIRST)
            return
        match = _RCPT_TO.match(arg or "")
        if match is None:
            await self.push(replies.R501_RCPT_SYNTAX)
            return
        address, rest = self._getaddr(match.group(1))
        if address is None:
            await self.push(replies.R501_RCPT_INVALID)
            return
        recipient = "" if address == "<>" else address
        # Postal ignores RCPT parameters; nothing we advertise defines any.
        status = await self._call_handler_hook("RCPT", recipient, (rest or "").upper().split())
        if status is MISSING:
            assert self.envelope is not None
            self.envelope.rcpt_tos.append(recipient)
            status = replies.R250_RECIPIENT_OK
        await self.push(status)

    async def smtp_DATA(self, arg: str | None) -> None:
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push(replies.R503_RCPT_FIRST)
            return
        self._in_data = True
        try:
            await self.push(replies.R354_GO_AHEAD)
            content = await read_message(self._reader, self.data_size_limit)
            if content is None:
                status = replies.R552_TOO_LARGE.format(megabytes=self.shared.settings.max_message_size)
            else:
                self.envelope.content = self.envelope.original_content = content
                status = await self._data_status()
            self._set_post_data_state()
            await self.push(status)
        finally:
            self._in_data = False

    async def _data_status(self) -> str:
        try:
            status = await self._call_handler_hook("DATA")
        except Exception as exc:
            metrics.SMTP_EXCEPTIONS.labels(type="data", error=type(exc).__name__).inc()
            log.exception("%s: storing a message failed", self.client_ip())
            return replies.R451_TEMPORARY
        return replies.R250_QUEUED if status is MISSING else str(status)
