"""Random tokens and keys, drawn from the operating system's secure random source."""

from __future__ import annotations

import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits
LOWER_ALPHANUMERIC = string.ascii_lowercase + string.digits
UPPER_ALPHANUMERIC = string.ascii_uppercase + string.digits


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


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
