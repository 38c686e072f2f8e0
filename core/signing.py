"""The installation signing key: webhook signatures, its JWKS publication, and fallback DKIM."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from core.errors import ConfigError
from core.mail import dkim


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, pem: str) -> None:
        self.pem = pem
        self.key = dkim.load_private_key(pem)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            return cls(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the signing key {path}: {exc}") from exc

    def sign_sha1(self, data: bytes) -> str:
        """`X-Postal-Signature`: base64 RSA-SHA1 (legacy, as Postal sends it)."""
        return base64.b64encode(self.key.sign(data, padding.PKCS1v15(), hashes.SHA1())).decode()  # noqa: S303

    def sign_sha256(self, data: bytes) -> str:
        """`X-Postal-Signature-256`: base64 RSA-SHA256."""
        return base64.b64encode(self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()

    @cached_property
    def kid(self) -> str:
        """`X-Postal-Signature-KID`: SHA-256 (hex) of the public key's PKCS#1 DER, as Postal's JWK."""
        der = self.key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        return hashlib.sha256(der).hexdigest()

    def jwk(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
        }

    def headers(self, body: bytes) -> dict[str, str]:
        """The three signature headers of a webhook or HTTP endpoint request."""
        return {
            "X-Postal-Signature-KID": self.kid,
            "X-Postal-Signature": self.sign_sha1(body),
            "X-Postal-Signature-256": self.sign_sha256(body),
        }


# path -> (the file's mtime, when that was last looked at (monotonic), the key)
_cache: dict[Path, tuple[float, float, SigningKey]] = {}
_lock = threading.Lock()
_loading = threading.Lock()
# The hot paths (a DKIM signature or webhook per message) look at the file at most this often.
CHECK_EVERY_SECONDS = 1.0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def signing_key(path: Path) -> SigningKey:
    """The key at `path`, read again when the file changes (noticed within a second)."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(path)
    if cached is not None and now - cached[1] < CHECK_EVERY_SECONDS:
        return cached[2]
    mtime = _mtime(path)
    if cached is not None and cached[0] == mtime:
        with _lock:
            _cache[path] = (mtime, now, cached[2])
        return cached[2]
    # One thread reads and parses the file; the others starting at the same moment wait for it.
    with _loading:
        with _lock:
            cached = _cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[2]
        key = SigningKey.load(path)
        with _lock:
            _cache[path] = (mtime, now, key)
    return key
