"""The actor that runs one housekeeping task: `run_maintenance_task(name)`."""

from __future__ import annotations

import dramatiq

from core.broker import ACTOR_MAINTENANCE, QUEUE_MAINTENANCE
from core.jobs.maintenance import run_task
from core.runtime import Runtime


def declare_maintenance(broker: dramatiq.Broker, runtime: Runtime) -> dramatiq.Actor:
    def run(task: str) -> None:
        run_task(runtime, task)

    return dramatiq.Actor(
        run, broker=broker, actor_name=ACTOR_MAINTENANCE, queue_name=QUEUE_MAINTENANCE, priority=0, options={}
    )
