"""Leases on singleton roles (the active scheduler) and each scheduled task: its next and last run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase


class WorkerRole(MainBase):
    __tablename__ = "worker_roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(64), unique=True)
    worker: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime]


class ScheduledTask(MainBase):
    """Postal v3's `scheduled_tasks` (name, next run), plus the outcome of the latest run: the
    scheduler writes the schedule and the next run, the worker that runs the task the rest."""

    __tablename__ = "scheduled_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    next_run_after: Mapped[datetime | None]
    # How the scheduler runs it, in words (`hourly at :15`).
    schedule: Mapped[str | None] = mapped_column(String(64))
    last_started_at: Mapped[datetime | None]
    # Seconds the latest finished run took.
    last_duration: Mapped[float | None] = mapped_column(Double)
    # `running` from start to finish, then `ok` or `error` (with `last_error`).
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the task counted (messages expired, rows deleted…), as its page in the docs says.
    last_count: Mapped[int | None]
