"""Every scheduled task records its runs where it runs (the maintenance actor), and the scheduler
records each task's schedule and next run; `scheduled_tasks` holds both."""

from __future__ import annotations

import datetime as dt

import dramatiq
import pytest

from actors.maintenance import declare_maintenance
from core.broker import QUEUE_MAINTENANCE
from core.jobs.maintenance import TASKS, run_task
from core.jobs.task_runs import TaskStatus, record_start, task_statuses
from core.runtime import Runtime
from scheduler.app import CRON, Scheduler, describe


def statuses(runtime: Runtime) -> dict[str, TaskStatus]:
    return {task.name: task for task in task_statuses(runtime.db.engine, TASKS)}


def test_a_run_records_its_start_duration_outcome_and_count(runtime: Runtime) -> None:
    # Given a task that never ran
    assert statuses(runtime)["prune_idempotency_keys"].last_outcome is None
    before = runtime.clock()

    # When it runs
    assert run_task(runtime, "prune_idempotency_keys") == 0

    # Then its run is there
    task = statuses(runtime)["prune_idempotency_keys"]
    assert task.last_outcome == "ok" and task.last_count == 0 and task.last_error is None
    assert task.last_started_at is not None and task.last_started_at >= before.replace(microsecond=0)
    assert task.last_duration is not None and task.last_duration >= 0


def test_a_failed_run_records_the_error_and_raises_it(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(rt: Runtime) -> int:
        raise RuntimeError("the disk is full")

    monkeypatch.setitem(TASKS, "prune_idempotency_keys", broken)
    with pytest.raises(RuntimeError):
        run_task(runtime, "prune_idempotency_keys")
    task = statuses(runtime)["prune_idempotency_keys"]
    assert (task.last_outcome, task.last_error, task.last_count) == ("error", "RuntimeError: the disk is full", None)
    assert task.last_duration is not None


def test_a_run_in_progress_shows_as_running(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[TaskStatus] = []

    def looking(rt: Runtime) -> int:
        seen.append(statuses(rt)["cleanup_ui_sessions"])
        return 7

    run_task(runtime, "cleanup_ui_sessions")  # a finished run first
    monkeypatch.setitem(TASKS, "cleanup_ui_sessions", looking)
    assert run_task(runtime, "cleanup_ui_sessions") == 7
    assert (seen[0].last_outcome, seen[0].last_duration, seen[0].last_count) == ("running", None, None)
    assert statuses(runtime)["cleanup_ui_sessions"].last_count == 7


def test_the_maintenance_actor_records_the_run_of_what_the_scheduler_published(runtime: Runtime) -> None:
    # Given a worker with the maintenance actor, consuming the queue the scheduler publishes to
    broker = runtime.require_publisher().broker
    declare_maintenance(broker, runtime)
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    scheduler = Scheduler(runtime)
    try:
        # When the scheduler's cron job fires for a task
        scheduler.start()
        scheduler._publish("prune_suppression_lists")
        broker.join(QUEUE_MAINTENANCE)  # type: ignore[attr-defined]
        worker.join()
    finally:
        scheduler.stop()
        worker.stop()

    # Then the worker ran it and recorded the run, and the scheduler its schedule and next run
    task = statuses(runtime)["prune_suppression_lists"]
    assert (task.last_outcome, task.last_count, task.schedule) == ("ok", 0, "daily at 03:00 UTC")
    assert task.next_run_after is not None and task.next_run_after > runtime.clock()
    assert (task.next_run_after.hour, task.next_run_after.minute) == (3, 0)


def test_the_scheduler_records_every_task_schedule_and_next_run(runtime: Runtime) -> None:
    scheduler = Scheduler(runtime)
    scheduler.start()
    try:
        now = runtime.clock()
        recorded = statuses(runtime)
    finally:
        scheduler.stop()
    for name, trigger in CRON.items():
        task = recorded[name]
        assert task.schedule == describe(trigger)
        assert task.next_run_after is not None and now < task.next_run_after <= now + dt.timedelta(days=1)
    assert recorded["action_deletions"].schedule == "hourly at :15"
    assert recorded["process_message_retention"].schedule == "daily at 03:00 UTC"
    assert recorded["send_limit_notifications"].schedule == "every minute"
    assert recorded["action_deletions"].next_run_after.minute == 15  # type: ignore[union-attr]


def test_a_task_that_runs_before_any_scheduler_described_it_gets_a_row(runtime: Runtime) -> None:
    record_start(runtime.db.engine, "check_all_dns", runtime.clock())
    task = statuses(runtime)["check_all_dns"]
    assert (task.last_outcome, task.schedule) == ("running", None)
