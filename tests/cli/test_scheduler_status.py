"""`postal scheduler status`: each scheduled task's schedule, latest run and next run, as a table
and as JSON."""

from __future__ import annotations

import datetime as dt

from core.jobs.maintenance import TASKS
from core.jobs.task_runs import record_finish, record_schedule
from core.runtime import Runtime
from tests.support.cli import CLI


def test_before_anything_ran_every_task_is_listed_empty(cli: CLI) -> None:
    data = cli.json("scheduler", "status")
    assert [task["name"] for task in data["tasks"]] == list(TASKS)
    assert all(task["outcome"] is None and task["schedule"] is None for task in data["tasks"])
    code, out, _ = cli("scheduler", "status")
    assert code == 0
    header, *lines, footer = out.splitlines()
    assert len(lines) == len(TASKS) and footer == "(times in UTC)"
    assert header.split() == ["NAME", "SCHEDULE", "LAST", "RUN", "DURATION", "OUTCOME", "NEXT", "RUN"]
    assert "process_message_retention  not scheduled yet  never" in out


def test_runs_and_schedules_are_shown(cli: CLI, runtime: Runtime) -> None:
    # Given a scheduler that described two tasks, one ran fine and one failed
    engine = runtime.db.engine
    started = dt.datetime(2026, 5, 4, 3, 0, 0, 250000)
    record_schedule(
        engine,
        [
            ("process_message_retention", "daily at 03:00 UTC", dt.datetime(2026, 5, 5, 3)),
            ("action_deletions", "hourly at :15", dt.datetime(2026, 5, 4, 4, 15)),
        ],
    )
    record_finish(engine, "process_message_retention", started, 12.5, 42, None)
    record_finish(engine, "action_deletions", started, 0.25, None, "OperationalError: " + "x" * 200)

    # When the status is asked for
    data = {task["name"]: task for task in cli.json("scheduler", "status")["tasks"]}
    code, out, _ = cli("scheduler", "status")

    # Then JSON has every field, and the table one line per task
    assert data["process_message_retention"] == {
        "name": "process_message_retention",
        "schedule": "daily at 03:00 UTC",
        "last_run_at": "2026-05-04T03:00:00.250000+00:00",
        "duration": 12.5,
        "outcome": "ok",
        "error": None,
        "count": 42,
        "next_run_at": "2026-05-05T03:00:00+00:00",
    }
    assert data["action_deletions"]["outcome"] == "error"
    assert data["action_deletions"]["error"] == "OperationalError: " + "x" * 200
    assert code == 0
    [retention] = [line for line in out.splitlines() if line.startswith("process_message_retention")]
    assert retention.split("  ")[0] == "process_message_retention"
    assert [cell.strip() for cell in retention.split("  ") if cell.strip()][1:] == [
        "daily at 03:00 UTC", "2026-05-04 03:00:00", "12.50s", "ok (42)", "2026-05-05 03:00:00",
    ]  # fmt: skip
    [deletions] = [line for line in out.splitlines() if line.startswith("action_deletions")]
    assert "error: OperationalError: xxx" in deletions and "…" in deletions
    assert "x" * 200 not in deletions
