"""The per-process cache of server state: fresh within its TTL, re-read after it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from core.caches import ServerCache
from models.server import Server
from tests.conftest import Installation


def test_changes_show_after_the_ttl_or_when_forgotten(installation: Installation) -> None:
    now = [0.0]
    cache = ServerCache(installation.runtime.db, ttl=5.0, clock=lambda: now[0])
    state = cache.get(installation.server_id)
    assert state is not None and not state.suspended
    assert state.verified_domain("example.com") is not None and state.verified_domain("other.example") is None

    with installation.runtime.db.transaction() as session:
        session.execute(update(Server).values(suspended_at=dt.datetime(2026, 1, 1)))
    now[0] = 4.0
    assert not cache.get(installation.server_id).suspended  # type: ignore[union-attr]
    now[0] = 5.5
    assert cache.get(installation.server_id).suspended  # type: ignore[union-attr]

    with installation.runtime.db.transaction() as session:
        session.execute(update(Server).values(deleted_at=dt.datetime(2026, 1, 1)))
    cache.forget(installation.server_id)
    assert cache.get(installation.server_id) is None
    assert cache.get_many([installation.server_id, 999]) == {}
