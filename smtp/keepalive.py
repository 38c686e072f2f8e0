"""TCP keepalive on accepted SMTP connections, as Postal sets it: a peer that vanished without
closing (NAT timeout, crash) is noticed after about 100 s of silence instead of never."""

from __future__ import annotations

import logging
import socket
from typing import Any

log = logging.getLogger(__name__)

IDLE = 50  # seconds of silence before the first probe
INTERVAL = 10  # seconds between probes
COUNT = 5  # unanswered probes before the connection is dropped


def enable_keepalive(sock: Any) -> None:
    """Turns keepalive on for `sock` (a socket or asyncio's TransportSocket), with Postal's
    timings where the platform has the options (Linux; macOS calls the idle time TCP_KEEPALIVE)."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    options = [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None)), IDLE),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), INTERVAL),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), COUNT),
    ]
    for level, option, value in options:
        if option is None:
            continue
        try:
            sock.setsockopt(level, option, value)
        except OSError as error:
            log.debug("cannot set socket option %s: %s", option, error)
