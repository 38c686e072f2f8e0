"""Dramatiq actors: the jobs workers run. Each names a database row and reloads everything from it."""

from __future__ import annotations

import dramatiq

from actors.incoming import declare_incoming
from actors.maintenance import declare_maintenance
from actors.outgoing import declare_outgoing
from actors.webhooks import declare_webhooks
from core.runtime import Runtime


def declare_actors(broker: dramatiq.Broker, runtime: Runtime) -> None:
    """Register every actor on `broker`, bound to this process's runtime."""
    declare_outgoing(broker, runtime)
    declare_incoming(broker, runtime)
    declare_webhooks(broker, runtime)
    declare_maintenance(broker, runtime)
