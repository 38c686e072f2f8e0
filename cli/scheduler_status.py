"""`postal scheduler status`: each scheduled task's schedule, latest run and next run."""

from __future__ import annotations

import argparse
from datetime import datetime

from cli.common import emit, runtime_from
from core.jobs.maintenance import TASKS
from core.jobs.task_runs import ERROR, TaskStatus, task_statuses

COLUMNS = ("NAME", "SCHEDULE", "LAST RUN", "DURATION", "OUTCOME", "NEXT RUN")
# An error's text is cut in the table (`--json` has all of it).
OUTCOME_WIDTH = 60


def _time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "never"


def _outcome(task: TaskStatus) -> str:
    if task.last_outcome is None:
        return "-"
    if task.last_outcome == ERROR:
        text = f"error: {task.last_error or ''}".splitlines()[0]
        return text if len(text) <= OUTCOME_WIDTH else text[: OUTCOME_WIDTH - 1] + "…"
    if task.last_count is not None:
        return f"{task.last_outcome} ({task.last_count})"
    return task.last_outcome


def _row(task: TaskStatus) -> tuple[str, ...]:
    return (
        task.name,
        task.schedule or "not scheduled yet",
        _time(task.last_started_at),
        f"{task.last_duration:.2f}s" if task.last_duration is not None else "-",
        _outcome(task),
        _time(task.next_run_after) if task.next_run_after is not None else "-",
    )


def table(tasks: list[TaskStatus]) -> str:
    """Aligned columns, times in UTC."""
    rows = [COLUMNS, *(_row(task) for task in tasks)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def status(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    try:
        tasks = task_statuses(runtime.db.engine, TASKS)
    finally:
        runtime.close()
    emit(args, {"tasks": [task.as_dict() for task in tasks]}, table(tasks) + "\n(times in UTC)")
    return 0
