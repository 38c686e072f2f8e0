"""PROXY protocol version 1 (HAProxy's text header), which Postal accepts before its greeting.

A load balancer sends `PROXY TCP4|TCP6 <client ip> <proxy ip> <client port> <proxy port>\\r\\n`
first thing on the connection; the SMTP session then belongs to the client it names. Only v1,
as in Postal (reference §5).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# The longest v1 header, CRLF included (the specification's own bound).
MAX_LINE = 107


@dataclass(frozen=True)
class ProxiedConnection:
    client_ip: str
    client_port: int
    proxy_ip: str
    proxy_port: int


def parse_proxy_line(line: bytes) -> ProxiedConnection | None:
    """The addresses of a well-formed v1 header (CRLF included), else None."""
    if len(line) > MAX_LINE or not line.endswith(b"\r\n"):
        return None
    try:
        text = line[:-2].decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = text.split(" ")
    if len(fields) != 6 or fields[0] != "PROXY" or fields[1] not in ("TCP4", "TCP6"):
        return None
    _, family, client, proxy, client_port, proxy_port = fields
    version = 4 if family == "TCP4" else 6
    try:
        addresses = [ipaddress.ip_address(client), ipaddress.ip_address(proxy)]
        ports = [_port(client_port), _port(proxy_port)]
    except ValueError:
        return None
    if any(a.version != version for a in addresses):
        return None
    return ProxiedConnection(str(addresses[0]), ports[0], str(addresses[1]), ports[1])


def _port(text: str) -> int:
    # Decimal digits only: int() would also take "+25", " 25" or "2_5".
    if not text.isdigit() or not text.isascii() or int(text) > 65535:
        raise ValueError(text)
    return int(text)
