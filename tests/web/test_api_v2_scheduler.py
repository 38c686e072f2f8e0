"""`GET /api/v2/scheduler/tasks`: the scheduled tasks with their schedule, latest and next run,
for global admins only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.jobs.maintenance import TASKS, run_task
from scheduler.app import Scheduler
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.cli import CLI


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


def test_only_global_admins_see_the_tasks(api: LiveAPI) -> None:
    assert api.member("boss@example.com", "acme", admin=True).get("/scheduler/tasks").status == 403
    assert api.admin.as_(None).get("/scheduler/tasks").status == 401
    reply = api.admin.get("/scheduler/tasks")
    assert reply.status == 200
    assert [task["name"] for task in reply.body["tasks"]] == list(TASKS)


def test_the_tasks_are_what_the_scheduler_and_the_runs_recorded(
    installation: Installation, api: LiveAPI, cli: CLI
) -> None:
    # Given a scheduler that started, and a retention run that removed nothing
    runtime = installation.runtime
    scheduler = Scheduler(runtime)
    scheduler.start()
    scheduler.stop()
    assert run_task(runtime, "process_message_retention") == 0

    # When an admin asks
    tasks = {task["name"]: task for task in api.admin.get("/scheduler/tasks").body["tasks"]}

    # Then each task has its schedule and next run, the one that ran its outcome — as the CLI says
    retention = tasks["process_message_retention"]
    assert (retention["schedule"], retention["outcome"], retention["count"]) == ("daily at 03:00 UTC", "ok", 0)
    assert retention["last_run_at"] is not None and retention["next_run_at"].endswith("T03:00:00+00:00")
    assert isinstance(retention["duration"], float)
    assert tasks["action_deletions"]["outcome"] is None and tasks["action_deletions"]["schedule"] == "hourly at :15"
    assert cli.json("scheduler", "status")["tasks"] == list(tasks.values())
