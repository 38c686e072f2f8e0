"""Leases: singleton roles held by one process at a time (the active scheduler, in `worker_roles`),
and the renewal of the row locks a worker holds."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, or_, update
from sqlalchemy.exc import IntegrityError

from models.base import MainBase, table
from models.worker_role import WorkerRole

log = logging.getLogger(__name__)

ROLES = table(WorkerRole)


def acquire(engine: Engine, role: str, holder: str, now: datetime, ttl: timedelta, force: bool = False) -> bool:
    """Take or renew `role` for `holder`; True while we hold it. A holder that stops renewing for
    `ttl` loses the role to the next caller (a standby scheduler takes over). `force` takes it
    at once (a restarted all-in-one process knows its predecessor is gone)."""
    with engine.begin() as conn:
        condition = ROLES.c.role == role
        if not force:
            condition = condition & or_(ROLES.c.worker == holder, ROLES.c.acquired_at < now - ttl)
        taken = conn.execute(update(ROLES).where(condition).values(worker=holder, acquired_at=now)).rowcount
        if taken:
            return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(ROLES).values(role=role, worker=holder, acquired_at=now))
    except IntegrityError:
        return False
    return True


def release(engine: Engine, role: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(ROLES).where(ROLES.c.role == role, ROLES.c.worker == holder).values(acquired_at=datetime(1970, 1, 1))
        )


class LeaseKeeper:
    """Renews the locks this process holds, so that only the locks of a dead worker go stale.

    Claims set `locked_at`; while a row is held its `locked_at` is moved forward every third of
    the lease, and the requeuer frees rows whose `locked_at` is older than the lease.
    """

    def __init__(self, engine: Engine, lease_seconds: float, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.interval = max(lease_seconds / 3, 0.5)
        self.clock = clock
        self._held: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, table_name: str, row_id: int) -> None:
        with self._lock:
            self._held.setdefault(table_name, set()).add(row_id)

    def release(self, table_name: str, row_id: int) -> None:
        with self._lock:
            self._held.get(table_name, set()).discard(row_id)

    def renew(self) -> None:
        with self._lock:
            held = {name: sorted(ids) for name, ids in self._held.items() if ids}
        if not held:
            return
        now = self.clock()
        with self.engine.begin() as conn:
            for name, ids in held.items():
                t = MainBase.metadata.tables[name]
                conn.execute(update(t).where(t.c.id.in_(ids), t.c.locked_by.is_not(None)).values(locked_at=now))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.renew()
            except Exception:
                log.exception("could not renew the locks of this worker")

    def start(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
