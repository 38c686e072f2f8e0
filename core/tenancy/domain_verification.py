"""Verifying a domain by e-mail (reference §10.2): a 6-digit code sent to one of the domain's
administrative addresses, typed back by the user.

The pending code lives in the domain's `verification_token` (the DNS method's token is unused
for an e-mail-verified domain): `email-code:<issued epoch>:<wrong tries>:<sha256>`. Only a
digest is stored; a code expires after an hour and dies after five wrong tries, and a new one
can be asked for once a minute, so an address cannot be flooded nor a code guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from core.errors import ValidationError
from core.tokens import verification_token
from models.domain import Domain
from models.enums import VerificationMethod

# The mailboxes Postal offers, at the domain and at each parent domain above the public suffix.
LOCAL_PARTS = ("webmaster", "postmaster", "admin", "administrator", "hostmaster")
PREFIX = "email-code:"
CODE_LIFETIME = 3600
RESEND_AFTER = 60
MAX_WRONG_TRIES = 5

SendMail = Callable[[str, str, str], None]


@dataclass(frozen=True)
class PendingCode:
    issued_at: int
    wrong_tries: int
    digest: str

    @property
    def expires_at(self) -> int:
        return self.issued_at + CODE_LIFETIME

    def encode(self) -> str:
        return f"{PREFIX}{self.issued_at}:{self.wrong_tries}:{self.digest}"


def _epoch(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def _digest(domain: Domain, code: str) -> str:
    return hashlib.sha256(f"{domain.uuid}:{code}".encode()).hexdigest()


def verification_addresses(name: str) -> list[str]:
    """`webmaster@…` and the rest at `name` and its parents (`a.b.example.com` → also
    `b.example.com`, `example.com`), never at the top-level domain alone."""
    labels = name.split(".")
    domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return [f"{local}@{domain}" for domain in domains for local in LOCAL_PARTS]


def pending_code(domain: Domain) -> PendingCode | None:
    token = domain.verification_token or ""
    if not token.startswith(PREFIX):
        return None
    issued, _, rest = token.removeprefix(PREFIX).partition(":")
    tries, _, digest = rest.partition(":")
    if not (issued.isdigit() and tries.isdigit() and digest):
        return None
    return PendingCode(int(issued), int(tries), digest)


def _require_email_method(domain: Domain) -> None:
    if domain.verification_method is not VerificationMethod.EMAIL:
        raise ValidationError(
            "verification_method", "is DNS for this domain: publish its TXT record instead of asking for a code"
        )


def send_verification_code(domain: Domain, address: str, now: datetime, send: SendMail) -> PendingCode:
    """E-mail a new code to `address` (one of `verification_addresses`), replacing any earlier
    one. `send(to, subject, text)` raises when the mail cannot go; then nothing changes."""
    if domain.verified:
        raise ValidationError("domain", "is already verified")
    _require_email_method(domain)
    address = address.strip().lower()
    allowed = verification_addresses(domain.name)
    if address not in allowed:
        raise ValidationError("address", f"must be one of {', '.join(allowed)}")
    now_epoch = _epoch(now)
    earlier = pending_code(domain)
    if earlier is not None and now_epoch - earlier.issued_at < RESEND_AFTER:
        wait = RESEND_AFTER - (now_epoch - earlier.issued_at)
        raise ValidationError("address", f"a code was sent less than a minute ago; wait {wait} seconds and try again")
    code = f"{secrets.randbelow(1_000_000):06d}"
    send(
        address,
        f"Verify {domain.name} on Postal",
        f"Someone asked to send e-mail as {domain.name} through Postal.\n\n"
        f"If that was you, enter this code to verify that you control the domain:\n\n"
        f"    {code}\n\n"
        f"The code is valid for {CODE_LIFETIME // 60} minutes. If you did not ask for it, ignore this e-mail.\n",
    )
    pending = PendingCode(now_epoch, 0, _digest(domain, code))
    domain.verification_token = pending.encode()
    return pending


def verify_code(domain: Domain, code: str, now: datetime) -> bool:
    """Mark the domain verified when `code` is the one sent; False (and one more wrong try
    counted) when it is not. Refused when no code is pending, it expired or was tried too often."""
    if domain.verified:
        return True
    _require_email_method(domain)
    pending = pending_code(domain)
    if pending is None:
        raise ValidationError("code", "has not been sent yet: choose an address to send it to first")
    if _epoch(now) >= pending.expires_at:
        raise ValidationError("code", "has expired: ask for a new one")
    if pending.wrong_tries >= MAX_WRONG_TRIES:
        raise ValidationError("code", "was entered wrongly too many times: ask for a new one")
    if hmac.compare_digest(_digest(domain, code.strip()), pending.digest):
        domain.verified_at = now
        # The code is spent; the token goes back to a random one.
        domain.verification_token = verification_token()
        return True
    domain.verification_token = PendingCode(pending.issued_at, pending.wrong_tries + 1, pending.digest).encode()
    return False
