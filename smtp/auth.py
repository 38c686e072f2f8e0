"""SMTP AUTH mechanisms (reference §5): PLAIN and LOGIN check the password against the SMTP
credentials; every database look-up runs in a thread, never on the event loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging

from aiosmtpd.smtp import SMTP, AuthResult

from core.credentials import authenticate_key
from core.runtime import Runtime
from models.enums import CredentialType
from smtp import replies

log = logging.getLogger(__name__)


class AuthMechanisms:
    """Mixed into the handler: aiosmtpd finds `auth_<MECHANISM>` methods on the handler."""

    runtime: Runtime

    # -- AUTH -------------------------------------------------------------------------------

    async def _grant(self, server: SMTP, password: bytes) -> AuthResult:
        key = password.decode(errors="replace")
        try:
            found = await asyncio.to_thread(authenticate_key, self.runtime.db, key, CredentialType.SMTP)
        except Exception:
            log.exception("credential lookup failed")
            return AuthResult(success=False, handled=False, message=replies.R451_TEMPORARY)
        if found is None:
            return AuthResult(success=False, handled=False, message=replies.R535_INVALID_CREDENTIAL)
        return AuthResult(
            success=True,
            auth_data=found,
            message=replies.R235_GRANTED.format(org=found.organization_permalink, server=found.server_permalink),
        )

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            blob = args[1].encode()
        else:
            challenge = await server.challenge_auth("", encode_to_b64=False)
            if not isinstance(challenge, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(challenge)
        try:
            parts = base64.b64decode(blob, validate=True).split(b"\0")
        except binascii.Error:
            return AuthResult(success=False, handled=False, message=replies.R535_PROTOCOL_ERROR)
        # authzid NUL authcid NUL passwd: the password is the last part (reference §5).
        if len(parts) < 2 or not parts[-1]:
            return AuthResult(success=False, handled=False, message=replies.R535_PROTOCOL_ERROR)
        return await self._grant(server, parts[-1])

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 1:
            username = await server.challenge_auth("Username:")
            if not isinstance(username, bytes):
                return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password:")
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._grant(server, password)
