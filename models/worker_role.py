"""Leases on singleton roles (the active scheduler) and the next run of each scheduled task."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import MainBase


class WorkerRole(MainBase):
    __tablename__ = "worker_roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(64), unique=True)
    worker: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime]


class ScheduledTask(MainBase):
    __tablename__ = "scheduled_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    next_run_after: Mapped[datetime | None]
