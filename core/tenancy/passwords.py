"""Password digests: argon2id for new ones (argon2-cffi), Postal's bcrypt digests still accepted
and replaced by argon2id at the next successful login."""

from __future__ import annotations

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults follow RFC 9106's second recommended profile (64 MiB, 3 passes).
_HASHER = PasswordHasher()
BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(digest: str | None, password: str) -> bool:
    """Whether `password` matches `digest` (argon2id, or a bcrypt digest from Postal)."""
    if not digest:
        return False
    if digest.startswith(BCRYPT_PREFIXES):
        encoded = password.encode()
        # bcrypt reads 72 bytes at most; a longer password never matched in Postal either.
        if len(encoded) > 72:
            return False
        try:
            return bcrypt.checkpw(encoded, digest.encode())
        except ValueError:
            return False
    try:
        return _HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(digest: str) -> bool:
    """A bcrypt digest, or argon2 with weaker parameters than today's: replace it after a login."""
    if digest.startswith(BCRYPT_PREFIXES):
        return True
    try:
        return _HASHER.check_needs_rehash(digest)
    except InvalidHashError:
        return True
