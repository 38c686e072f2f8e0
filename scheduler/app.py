"""The scheduler process: APScheduler running the requeuer and Postal's cron (reference §8) while it
holds the `scheduler` lease; a standby process takes over when the holder dies. Each task's
schedule and next run are written to `scheduled_tasks`; the worker running it records the run."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from core import leases
from core.broker import BrokerUnavailable
from core.jobs import task_runs
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
    "process_message_retention": {"trigger": "cron", "hour": 3, "minute": 0},
    "action_deletions": {"trigger": "cron", "minute": 15},
}


def describe(trigger: dict[str, Any]) -> str:
    """A schedule of `CRON` in words, as `postal scheduler status` shows it."""
    if trigger["trigger"] == "interval":
        seconds = int(trigger["seconds"])
        if seconds == 60:
            return "every minute"
        return f"every {seconds // 60} minutes" if seconds % 60 == 0 else f"every {seconds} s"
    if "hour" in trigger:
        return f"daily at {int(trigger['hour']):02d}:{int(trigger['minute']):02d} UTC"
    return f"hourly at :{int(trigger['minute']):02d}"


class Scheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.holder = f"host:{socket.gethostname()} pid:{os.getpid()} {random_string(6)}"
        self.leader = False
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._lock = threading.Lock()
        self._stopping = threading.Event()

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
                # A run ends before the next one is due, so runs never pile up behind it.
                requeue(self.runtime, budget_seconds=REQUEUE_EVERY_SECONDS * 0.6, stop=self._stopping)
        except BrokerUnavailable as exc:
            log.warning("requeuer: %s; trying again in %d s", exc, REQUEUE_EVERY_SECONDS)
        except OperationalError as exc:
            log.warning(
                "requeuer: the database could not be reached (%s); trying again in %d s",
                exc.orig,
                REQUEUE_EVERY_SECONDS,
            )
        except Exception:
            log.exception("requeuer run failed")
        finally:
            self._lock.release()

    def _publish(self, task: str) -> None:
        """A cron job: hand the task to a worker (STYLE rule 13), when this scheduler is active."""
        try:
            if self._is_leader():
                self.runtime.require_publisher().publish_maintenance(task)
                task_runs.record_next_run(self.runtime.db.engine, task, self.next_run(task))
        except Exception:
            log.exception("could not publish maintenance task %s", task)

    def next_run(self, task: str) -> datetime | None:
        """When the task is next due after now (naive UTC, as the database stores times)."""
        job = self._scheduler.get_job(task)
        if job is None:
            return None
        # A second on: asked while the task fires, the trigger would answer this very run.
        after = self.runtime.clock().replace(tzinfo=UTC) + timedelta(seconds=1)
        moment = job.trigger.get_next_fire_time(None, after)
        return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)

    def _record_schedule(self) -> None:
        try:
            task_runs.record_schedule(
                self.runtime.db.engine,
                [(task, describe(trigger), self.next_run(task)) for task, trigger in CRON.items()],
            )
        except Exception:
            log.exception("could not record the schedule of the maintenance tasks")

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
        self._record_schedule()
        log.info("scheduler started")

    def stop(self) -> None:
        self._stopping.set()  # a requeuer run in progress ends after its current batch
        self._scheduler.shutdown(wait=True)
        if self.leader:
            try:
                leases.release(self.runtime.db.engine, "scheduler", self.holder)
            except OperationalError as exc:
                # The lease then lapses by itself, and a standby takes over a little later.
                log.warning("could not give up the scheduler lease (%s); it lapses by itself", exc.orig)
