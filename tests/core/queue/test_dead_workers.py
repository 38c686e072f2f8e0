"""A restarted worker takes back at once the rows that workers of its host, now dead, had locked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update

from core.queue.queued_messages import QM, free_locks_of_dead_workers, process_alive
from tests.conftest import Installation
from tests.support.outgoing import send

HOST = "mx7"


def _lock(installation: Installation, row_id: int, locker: str) -> None:
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(
            update(QM)
            .where(QM.c.id == row_id)
            .values(locked_by=locker, locked_at=datetime(2026, 1, 1), published_at=datetime(2026, 1, 1))
        )


def test_locks_of_dead_processes_of_this_host_are_freed(installation: Installation) -> None:
    # Given rows locked by a dead process, a live one, this process's predecessor and another host
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rows = send(installation, "a@example.net", "b@example.net", "c@example.net", "d@example.net")
        lockers = [
            f"host:{HOST} pid:{dead.pid} thread:1 job:AAAAAAAA",
            f"host:{HOST} pid:{alive.pid} thread:1 job:BBBBBBBB",
            f"host:{HOST} pid:4242 thread:1 job:CCCCCCCC",
            f"host:mx8 pid:{dead.pid} thread:1 job:DDDDDDDD",
        ]
        for row_id, locker in zip(rows, lockers, strict=True):
            _lock(installation, row_id, locker)

        # When a worker starts on that host as process 4242
        freed = free_locks_of_dead_workers(installation.runtime.db.engine, [QM], host=HOST, own_pid=4242)

        # Then the dead process's and the predecessor's rows are free and unpublished, for the
        # requeuer's next round; the live process's and the other host's stay locked
        assert freed == 2
        with installation.runtime.db.engine.connect() as conn:
            state = {r.id: (r.locked_by, r.published_at) for r in conn.execute(select(QM).where(QM.c.id.in_(rows)))}
        assert state[rows[0]] == (None, None) and state[rows[2]] == (None, None)
        assert state[rows[1]][0] == lockers[1] and state[rows[3]][0] == lockers[3]
        assert free_locks_of_dead_workers(installation.runtime.db.engine, [QM], host=HOST, own_pid=1) == 0
    finally:
        alive.kill()
        alive.wait()


def test_a_zombie_is_not_alive() -> None:
    # A child that has exited but is not yet reaped still has its pid; the worker it was is gone.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{child.pid}/stat")
    try:
        deadline = time.monotonic() + 30
        while stat.read_text().rpartition(")")[2].split()[0] != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not process_alive(child.pid)
    finally:
        child.wait()
    assert not process_alive(child.pid)
    assert process_alive(os.getpid())
