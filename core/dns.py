"""The DNS resolvers every lookup goes through, built from the `dns` configuration section."""

from __future__ import annotations

from typing import TypeVar

import dns.asyncresolver
import dns.resolver

from core.config import Config

R = TypeVar("R", dns.resolver.Resolver, dns.asyncresolver.Resolver)


def _configure(kind: type[R], config: Config, timeout: float, cached: bool) -> R:
    if config.dns.nameservers:
        resolver = kind(configure=False)
        resolver.nameservers = list(config.dns.nameservers)
    else:
        try:
            resolver = kind(filename=config.dns.resolv_conf_path)
        except (OSError, dns.resolver.NoResolverConfiguration):
            resolver = kind(configure=False)
            resolver.nameservers = ["127.0.0.1"]
    resolver.port = config.dns.port
    resolver.timeout = timeout
    resolver.lifetime = timeout * 2
    resolver.cache = dns.resolver.LRUCache(10_000) if cached else None
    return resolver


def make_resolver(config: Config, cached: bool = False) -> dns.resolver.Resolver:
    """A resolver using `dns.nameservers`/`dns.port` when set, else the system's resolv.conf.

    `cached` keeps answers for their TTL (deliveries); DNS checks use an uncached resolver so
    they see records the user has just published.
    """
    return _configure(dns.resolver.Resolver, config, config.dns.timeout, cached)


def make_async_resolver(config: Config, timeout: float) -> dns.asyncresolver.Resolver:
    """The same, for the event loop (the SMTP server's reverse lookups), with its own timeout."""
    return _configure(dns.asyncresolver.Resolver, config, timeout, cached=True)
