"""SMTP sessions of a worker process, and the envelope they send with: the per-process pool of
sessions by (destination, source address), the HELO name, and the return path (MAIL FROM)."""

from __future__ import annotations

import threading

from core.caches import SourceAddress
from core.mail.sender_pool import SenderPool
from core.mail.smtp_client import SMTPSender
from core.runtime import Runtime
from models.domain import Domain
from models.enums import DNSStatus
from models.server import Server

_pool_lock = threading.Lock()


def return_path(
    runtime: Runtime, server: Server, domain: Domain, bounce: bool, message_token: str | None = None
) -> str:
    """MAIL FROM: empty for bounces; `<server token>+<message token>@psrp.<domain>` when its CNAME
    checks out, else at the return path domain. Postal's local part is the server token alone;
    the message token (VERP) links a bounce that quotes none of the original to its message."""
    if bounce:
        return ""
    dns_config = runtime.config.dns
    local = f"{server.token}+{message_token}" if message_token else server.token
    if domain.return_path_status == DNSStatus.OK:
        return f"{local}@{dns_config.custom_return_path_prefix}.{domain.name}"
    return f"{local}@{dns_config.return_path_domain}"


def helo_hostname(runtime: Runtime) -> str:
    config = runtime.config
    return config.dns.helo_hostname or config.postal.smtp_hostname or "localhost"


def sender_pool(runtime: Runtime) -> SenderPool:
    """The process's SMTP sessions by (destination domain, source address), made on first use."""
    if runtime.senders is None:
        with _pool_lock:
            if runtime.senders is None:
                config = runtime.config

                def factory(key: object) -> SMTPSender:
                    assert isinstance(key, tuple)
                    destination: str = key[0]
                    address: SourceAddress | None = key[1]
                    return SMTPSender(
                        domain=str(destination),
                        resolver=runtime.resolver,
                        # The chosen address's own name, as the receiving side sees it connect.
                        helo_hostname=address.hostname if address else helo_hostname(runtime),
                        destination_port=config.smtp_client.destination_port,
                        relays=config.smtp_relays,
                        open_timeout=config.smtp_client.open_timeout,
                        read_timeout=config.smtp_client.read_timeout,
                        source_ipv4=address.ipv4 if address else None,
                        source_ipv6=address.ipv6 if address else None,
                    )

                # Without batching every message gets a connection of its own, as in Postal.
                idle = 30.0 if config.postal.batch_queued_messages else 0.0
                runtime.senders = SenderPool(
                    factory, max_per_destination=config.worker.max_connections_per_destination, idle_timeout=idle
                )
    return runtime.senders
