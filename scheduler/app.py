"""The scheduler process: APScheduler running the requeuer (and later the cron jobs) while it
holds the `scheduler` lease; a standby process takes over when the holder dies."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from core import leases
from core.runtime import Runtime
from core.tokens import random_string
from scheduler.requeuer import requeue

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=60)
REQUEUE_EVERY_SECONDS = 5
CRON: dict[str, dict[str, Any]] = {
    "send_limit_notifications": {"trigger": "interval", "seconds": 60},
    "expire_held_messages": {"trigger": "cron", "minute": 15},
    "check_all_dns": {"trigger": "cron", "minute": 15},
    "prune_webhook_history": {"trigger": "cron", "minute": 45},
    "prune_suppression_lists": {"trigger": "cron", "hour": 3, "minute": 0},
    "prune_idempotency_keys": {"trigger": "cron", "minute": 30},
    "cleanup_ui_sessions": {"trigger": "cron", "minute": 15},
}


class Scheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.holder = f"host:{socket.gethostname()} pid:{os.getpid()} {random_string(6)}"
        self.leader = False
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._lock = threading.Lock()

    def _is_leader(self) -> bool:
        try:
            leader = leases.acquire(self.runtime.db.engine, "scheduler", self.holder, self.runtime.clock(), LEASE_TTL)
        except Exception:
            log.exception("could not renew the scheduler lease")
            leader = False
        if leader != self.leader:
            log.info("this scheduler is %s", "now active" if leader else "on standby")
            self.leader = leader
        return leader

    def _requeue(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._is_leader():
                requeue(self.runtime)
        except Exception:
            log.exception("requeuer run failed")
        finally:
            self._lock.release()

    def _publish(self, task: str) -> None:
        """A cron job: hand the task to a worker (STYLE rule 13), when this scheduler is active."""
        try:
            if self._is_leader():
                self.runtime.require_publisher().publish_maintenance(task)
        except Exception:
            log.exception("could not publish maintenance task %s", task)

    def start(self, restarted_in_process: bool = False) -> None:
        """`restarted_in_process`: this process also holds the queue (`postal run`). The previous
        process and every job in its memory are gone, so take the lease over and publish
        everything that is due at once, instead of waiting for stale publications to expire."""
        if restarted_in_process:
            leases.acquire(
                self.runtime.db.engine, "scheduler", self.holder, self.runtime.clock(), LEASE_TTL, force=True
            )
            self.leader = True
            requeue(self.runtime, republish_after=timedelta(0))
        self._scheduler.add_job(
            self._requeue,
            "interval",
            seconds=REQUEUE_EVERY_SECONDS,
            id="requeuer",
            max_instances=1,
            coalesce=True,
        )
        # Postal's schedule (reference §8), in UTC.
        for task, trigger in CRON.items():
            self._scheduler.add_job(
                self._publish, args=(task,), id=task, max_instances=1, coalesce=True, misfire_grace_time=300, **trigger
            )
        self._scheduler.start()
        log.info("scheduler started")

    def stop(self) -> None:
        self._scheduler.shutdown(wait=True)
        if self.leader:
            leases.release(self.runtime.db.engine, "scheduler", self.holder)
