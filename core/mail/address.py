"""E-mail address helpers: domains, `+tag` sub-addresses and envelope address checks."""

from __future__ import annotations


def domain_of(address: str) -> str:
    """The lower-cased domain after the last `@` (empty if there is none)."""
    _, sep, domain = address.rpartition("@")
    return domain.strip().lower().rstrip(".") if sep else ""


def local_part(address: str) -> str:
    local, sep, _ = address.rpartition("@")
    return local if sep else address


def strip_tag(address: str) -> str:
    """`user+tag@example.com` → `user@example.com`."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return address
    return f"{local.split('+', 1)[0]}@{domain}"


def is_plausible(address: str) -> bool:
    """A mailbox with a local part and a dotted domain, and nothing that breaks SMTP."""
    if not address or len(address) > 254 or any(c.isspace() or c in "<>" for c in address):
        return False
    local, sep, domain = address.rpartition("@")
    return bool(sep and local and domain and "." in domain.strip("."))
