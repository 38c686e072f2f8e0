"""Helpers for tracking tests: a track domain whose CNAME the test DNS server answers, and the
tracking URLs found in delivered mail."""

from __future__ import annotations

import re
from typing import Any

from core.dns import make_resolver
from core.tenancy.dns_checks import domain_lookup
from core.tenancy.track_domains import add_track_domain, check_track_domain, domain_of, full_name
from models.server import Server
from tests.conftest import Installation

LINK_URL = re.compile(rb"https?://track\.example\.com/[A-Za-z0-9]+/[A-Za-z0-9]+")
PIXEL_URL = re.compile(rb"https?://track\.example\.com/img/[A-Za-z0-9]+/[A-Za-z0-9]+")


def track_domain(installation: Installation, zone: Any, cname: bool = True, **settings: Any) -> str:
    """`track.example.com` for the installation's server, checked against the test DNS server
    (a CNAME to `dns.track_domain` unless `cname` is False); returns its DNS status."""
    runtime = installation.runtime
    config = runtime.config
    if cname:
        zone.set("track.example.com", "CNAME", config.dns.track_domain + ".")
    with runtime.db.transaction() as session:
        server = session.get(Server, installation.server_id)
        assert server is not None
        track = add_track_domain(session, server, "track.example.com", **settings)
        domain = domain_of(session, track)
        lookup = domain_lookup(config, make_resolver(config), full_name(track, domain))
        check_track_domain(config, lookup, track, domain)
        status = str(track.dns_status.value if track.dns_status else None)
    runtime.track_domains.forget()
    return status


def tracking_urls(data: bytes) -> tuple[list[str], list[str]]:
    """(link URLs, image URLs) in a message as the recipient sees it (transfer encodings undone)."""
    import email
    from email import policy

    message = email.message_from_bytes(data, policy=policy.default)
    texts = b"".join(
        str(part.get_content()).encode() for part in message.walk() if part.get_content_maintype() == "text"
    )
    pixels = [m.decode() for m in PIXEL_URL.findall(texts)]
    links = [m.decode() for m in LINK_URL.findall(texts) if m.decode() not in pixels and b"/img/" not in m]
    return links, pixels
