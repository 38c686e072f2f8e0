"""SMTP AUTH mechanisms (reference §5): PLAIN and LOGIN check the password against the SMTP
credentials, CRAM-MD5 a keyed digest of a challenge; every database look-up runs in a thread,
never on the event loop."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, auth_mechanism

from core.runtime import Runtime
from core.tenancy.credentials import Authenticated, authenticate_key, authenticate_server_credential
from models.enums import CredentialType
from smtp import replies

log = logging.getLogger(__name__)


class AuthMechanisms:
    """Mixed into the handler: aiosmtpd finds `auth_<MECHANISM>` methods on the handler."""

    runtime: Runtime
    # The random part of a CRAM-MD5 challenge: 20 hex characters, like Postal's.
    cram_nonce: Callable[[], str] = staticmethod(lambda: secrets.token_hex(10))

    # -- AUTH -------------------------------------------------------------------------------

    async def _grant(self, server: SMTP, password: bytes) -> AuthResult:
        key = password.decode(errors="replace")
        return await self._look_up(replies.R535_INVALID_CREDENTIAL, authenticate_key, key, CredentialType.SMTP)

    async def _look_up(self, refusal: str, find: Callable[..., Authenticated | None], *args: Any) -> AuthResult:
        """Run the credential look-up `find(db, *args)` in a thread; `refusal` when it finds none."""
        try:
            found = await asyncio.to_thread(find, self.runtime.db, *args)
        except Exception:
            log.exception("credential lookup failed")
            return AuthResult(success=False, handled=False, message=replies.R451_TEMPORARY)
        if found is None:
            return AuthResult(success=False, handled=False, message=refusal)
        return self._granted(found)

    @staticmethod
    def _granted(found: Authenticated) -> AuthResult:
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

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195: the client answers `<username> <hex HMAC-MD5 of the challenge, keyed with its
        password>`; the username is `<organization>/<server>` (or `_` between them), and any
        SMTP credential of that server may be the key (reference §5)."""
        challenge = f"<{self.cram_nonce()}@{server.hostname}>"
        response = await server.challenge_auth(challenge)
        if not isinstance(response, bytes):
            return AuthResult(success=False, handled=True)
        username, _, digest = response.decode(errors="replace").strip().partition(" ")
        names = re.split(r"[/_]", username, maxsplit=1)
        digest = digest.strip().lower()
        if len(names) != 2 or not digest:
            return AuthResult(success=False, handled=False, message=replies.R535_DENIED)

        def proves(key: str) -> bool:
            expected = hmac.new(key.encode(), challenge.encode(), hashlib.md5).hexdigest()
            return hmac.compare_digest(expected, digest)

        return await self._look_up(
            replies.R535_DENIED, authenticate_server_credential, names[0], names[1], CredentialType.SMTP, proves
        )
