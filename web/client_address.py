"""Who is asking: the client's address of a web request, behind the proxies the configuration
trusts (`postal.trusted_proxies`), as Rails finds `request.ip`."""

from __future__ import annotations

import ipaddress
import logging

import falcon

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    def __init__(self, trusted_proxies: list[str]) -> None:
        self.trusted = _networks(trusted_proxies)

    def of(self, req: falcon.Request) -> str:
        """The peer, or with trusted proxies in front the last address in X-Forwarded-For that is
        not one of them. A peer that is not a trusted proxy cannot claim another address."""
        peer = req.remote_addr or "127.0.0.1"
        if not self.trusted or not _within(peer, self.trusted):
            return peer
        forwarded = [a.strip() for a in (req.get_header("X-Forwarded-For") or "").split(",") if a.strip()]
        for address in reversed(forwarded):
            if not _within(address, self.trusted):
                return address
        return forwarded[0] if forwarded else peer


def _networks(values: list[str]) -> list[Network]:
    found = []
    for value in values:
        try:
            found.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            log.warning("postal.trusted_proxies: %r is not an address or network; ignored", value)
    return found


def _within(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
