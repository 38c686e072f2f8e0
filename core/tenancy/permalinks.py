"""Permalinks: the URL-safe short names of organizations and servers."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from core.errors import ValidationError

PERMALINK_RE = re.compile(r"\A[a-z0-9-]+\Z")


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "item"


def choose_permalink(
    name: str,
    requested: str | None,
    reserved: Collection[str],
    taken: Callable[[str], bool],
) -> str:
    """The requested permalink if valid and free, else one made from the name (`-2`, `-3`… on clashes)."""
    if requested is not None:
        if not PERMALINK_RE.match(requested):
            raise ValidationError("permalink", "can only contain lowercase letters, numbers and hyphens")
        if requested in reserved:
            raise ValidationError("permalink", f"{requested!r} is reserved")
        if taken(requested):
            raise ValidationError("permalink", f"{requested!r} has already been taken")
        return requested
    base = slugify(name)
    candidate, n = base, 1
    while candidate in reserved or taken(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate
