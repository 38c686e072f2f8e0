"""Random tokens and keys, drawn from the operating system's secure random source."""

from __future__ import annotations

import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits
LOWER_ALPHANUMERIC = string.ascii_lowercase + string.digits
UPPER_ALPHANUMERIC = string.ascii_uppercase + string.digits


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    """`length` characters drawn uniformly from `alphabet` (at most 256 characters).

    One read of random bytes, not one per character as `secrets.choice` does (a message token
    cost 12 reads): a byte picks `alphabet[byte % size]`, and the bytes at or above the largest
    multiple of the size are dropped, so every character is equally likely."""
    size = len(alphabet)
    if not 0 < size <= 256:
        raise ValueError("the alphabet must have 1 to 256 characters")
    limit = 256 - 256 % size
    chosen: list[str] = []
    while len(chosen) < length:
        # A few bytes more than needed, so that dropped ones rarely cost another read.
        chosen.extend(alphabet[byte % size] for byte in secrets.token_bytes(length - len(chosen) + 8) if byte < limit)
    return "".join(chosen[:length])


def server_token() -> str:
    """Six lower-case characters, used in return-path addresses (`<token>@psrp.<domain>`)."""
    return random_string(6, LOWER_ALPHANUMERIC)


def credential_key() -> str:
    return random_string(24)


def message_token() -> str:
    return random_string(12)


def route_token() -> str:
    return random_string(8, LOWER_ALPHANUMERIC)


def dkim_identifier() -> str:
    """Six letters; the DKIM selector is `<dns.dkim_identifier>-<these>`."""
    return random_string(6, string.ascii_letters)


def verification_token() -> str:
    return random_string(32)


def log_id() -> str:
    """Identifies one outgoing SMTP session in delivery records."""
    return random_string(8, string.ascii_uppercase)
