"""The `scheduled_tasks` rows: each task's schedule and next run (written by the scheduler) and
its latest run (written where it runs), and the status table `postal scheduler status` and the
management API show."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from core.db import run_transaction
from core.errors import PostalError
from core.presenters import iso
from core.upsert import upsert_set
from models.base import table
from models.worker_role import ScheduledTask

TASKS_TABLE = table(ScheduledTask)
RUNNING, OK, ERROR = "running", "ok", "error"
# Room for a traceback's last line and then some; the column is TEXT but a status table is not a log.
ERROR_LENGTH = 2000


class TaskIncomplete(PostalError):
    """A task that works through many objects (servers, organizations) failed for some of them;
    the others were done. Carries the failures by object."""

    def __init__(self, kind: str, total: int, failures: dict[str, str]) -> None:
        listed = "; ".join(f"{name}: {error}" for name, error in failures.items())
        super().__init__(f"{len(failures)} of {total} {kind} failed: {listed}")
        self.kind = kind
        self.total = total
        self.failures = failures


def record_schedule(engine: Engine, schedules: Iterable[tuple[str, str, datetime | None]]) -> None:
    """The scheduler's view of each task: `(name, schedule in words, next run)`."""

    def work(conn: Connection) -> None:
        for name, schedule, next_run in schedules:
            upsert_set(conn, TASKS_TABLE, {"name": name}, {"schedule": schedule, "next_run_after": next_run})

    run_transaction(engine, work)


def record_next_run(engine: Engine, name: str, next_run: datetime | None) -> None:
    run_transaction(engine, lambda conn: upsert_set(conn, TASKS_TABLE, {"name": name}, {"next_run_after": next_run}))


def record_start(engine: Engine, name: str, started: datetime) -> None:
    """The task is running from `started`; the previous outcome is replaced by `running`, so a
    run whose worker died shows as still running since then."""

    values = {
        "last_started_at": started,
        "last_outcome": RUNNING,
        "last_error": None,
        "last_duration": None,
        "last_count": None,
    }
    run_transaction(engine, lambda conn: upsert_set(conn, TASKS_TABLE, {"name": name}, values))


def record_finish(
    engine: Engine, name: str, started: datetime, duration: float, count: int | None, error: str | None
) -> None:
    """The run that began at `started` ended: `ok` with its count, or `error` with the text."""

    values = {
        "last_started_at": started,
        "last_duration": duration,
        "last_outcome": OK if error is None else ERROR,
        "last_error": None if error is None else error[:ERROR_LENGTH],
        "last_count": count,
    }
    run_transaction(engine, lambda conn: upsert_set(conn, TASKS_TABLE, {"name": name}, values))


@dataclass(frozen=True)
class TaskStatus:
    name: str
    schedule: str | None
    last_started_at: datetime | None
    last_duration: float | None
    last_outcome: str | None
    last_error: str | None
    last_count: int | None
    next_run_after: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schedule": self.schedule,
            "last_run_at": iso(self.last_started_at),
            "duration": self.last_duration,
            "outcome": self.last_outcome,
            "error": self.last_error,
            "count": self.last_count,
            "next_run_at": iso(self.next_run_after),
        }


def task_statuses(engine: Engine, names: Iterable[str]) -> list[TaskStatus]:
    """Every task in `names` (the ones this version runs), in that order; a task that never ran
    or was never scheduled has empty fields. Rows of tasks an older version had are left out."""
    with engine.connect() as conn:
        rows = {row.name: row for row in conn.execute(select(TASKS_TABLE))}
    fields = [f for f in TaskStatus.__dataclass_fields__ if f != "name"]
    result = []
    for name in names:
        row = rows.get(name)
        result.append(TaskStatus(name=name, **{f: getattr(row, f) if row is not None else None for f in fields}))
    return result
