"""`/scheduler/tasks`: every scheduled task with its schedule, latest run and next run (global
admins), the same table as `postal scheduler status`."""

from __future__ import annotations

from typing import Any

from core.jobs.maintenance import TASKS
from core.jobs.task_runs import task_statuses
from web.api_v2.call import Call
from web.api_v2.operations import Operations
from web.api_v2.schema import array, enum, integer, nullable, number, obj, ref, string

ops = Operations("scheduler")


def _described(schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {**schema, "description": text}


SCHEMAS = {
    "ScheduledTask": obj(
        {
            "name": string(),
            "schedule": _described(
                nullable(string()), "In words (`hourly at :15`); null until a scheduler has started with the task."
            ),
            "last_run_at": _described(nullable(string()), "When the latest run started."),
            "duration": _described(nullable(number(minimum=0)), "Seconds the latest finished run took."),
            "outcome": nullable(enum("running", "ok", "error")),
            "error": _described(nullable(string()), "What went wrong, when the outcome is `error`."),
            "count": _described(nullable(integer()), "What the run counted (see the maintenance page)."),
            "next_run_at": _described(nullable(string()), "When the active scheduler publishes it next."),
        },
        required=("name", "schedule", "last_run_at", "duration", "outcome", "error", "count", "next_run_at"),
    ),
    "ScheduledTasks": obj({"tasks": array(ref("ScheduledTask"))}, required=("tasks",)),
}


@ops.get("/scheduler/tasks", "The scheduled tasks and their runs", response=ref("ScheduledTasks"))
def list_scheduled_tasks(call: Call) -> dict[str, Any]:
    """Global admins. Each housekeeping task: its schedule, when its latest run started, how long
    it took, its outcome (`running`, `ok`, or `error` with the text), its count, and its next run."""
    call.require_global_admin()
    return {"tasks": [task.as_dict() for task in task_statuses(call.runtime.db.engine, TASKS)]}
