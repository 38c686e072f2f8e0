"""Running Dramatiq workers: N processes × M threads consuming the chosen queues, and the
worker group's health server.

Metrics of a group of several processes: prometheus-client's multiprocess mode. Every process
writes its counters and histograms to files in one directory per group (fresh at each start), the
parent serves their sum on the one health port, and marks a process dead when it exits. One
registry and port per process would need a port per process and a scrape target for each,
which the operator would have to keep in step with `--processes`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import dramatiq

from actors import declare_actors
from actors.instrumentation import instrument
from core import metrics
from core.broker import BASE_QUEUES, Publisher, create_broker
from core.config import Config
from core.db import Database
from core.health_server import start_health_server
from core.leases import LeaseKeeper
from core.logs import setup_logging
from core.queue.queued_messages import QM, free_locks_of_dead_workers
from core.runtime import Runtime
from core.tenancy.ip_pools import host_addresses, local_pool_queues
from core.webhooks.requests import REQUESTS

log = logging.getLogger(__name__)

POOL_RECHECK_SECONDS = 60


def default_queues(runtime: Runtime) -> list[str]:
    """The base queues, plus the queue of every IP pool with an address on this host."""
    return [*BASE_QUEUES, *local_pool_queues(runtime.pools.get(), host_addresses())]


def start_worker(
    broker: dramatiq.Broker, runtime: Runtime, queues: Sequence[str] | None, threads: int
) -> tuple[dramatiq.Worker, threading.Event]:
    """Declare the actors and queues on `broker` and start consuming. Without named queues the
    worker follows the IP pools: a pool whose address appears on this host later is picked up.
    Returns the worker and an event that stops the pool watcher."""
    # A worker killed on this host left its rows locked: take them back now, not a lease later.
    freed = free_locks_of_dead_workers(runtime.db.engine, (QM, REQUESTS))
    if freed:
        log.info("freed %d rows locked by worker processes of this host that no longer run", freed)
    runtime.leases = LeaseKeeper(runtime.db.engine, runtime.config.worker.lease_seconds, runtime.clock).start()
    instrument(broker)
    declare_actors(broker, runtime)
    chosen = list(queues) if queues else default_queues(runtime)
    for name in chosen:
        broker.declare_queue(name)
    worker = dramatiq.Worker(broker, queues=None if not queues else set(queues), worker_threads=threads)
    worker.start()
    stop = threading.Event()
    if not queues:

        def watch_pools() -> None:
            known = set(chosen)
            while not stop.wait(POOL_RECHECK_SECONDS):
                try:
                    runtime.pools.forget()
                    for name in default_queues(runtime):
                        if name not in known:
                            log.info("an address of pool queue %s is on this host now: consuming it", name)
                            broker.declare_queue(name)
                            known.add(name)
                except Exception:
                    log.exception("could not look for new IP pools")

        threading.Thread(target=watch_pools, name="pool-watcher", daemon=True).start()
    log.info("consuming %s with %d threads", ", ".join(chosen), threads)
    return worker, stop


HealthAddress = tuple[str, int]
HEALTH_NAME = "worker"


def _serve(config: Config, queues: Sequence[str] | None, threads: int, health: HealthAddress | None = None) -> None:
    """One worker process: its own broker connection, runtime and threads, until TERM/INT; with
    `health`, its own health server too (a lone process)."""
    setup_logging(config)
    broker = create_broker(config, allow_embedded=False)
    runtime = Runtime.create(config, Publisher(broker))
    server = None
    if health is not None:
        registry = metrics.process_registry(runtime.db.engine)
        server = start_health_server(HEALTH_NAME, health[0], health[1], registry)
    worker, watcher = start_worker(broker, runtime, queues, threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("worker pid %d stopping: finishing the jobs in hand", os.getpid())
    watcher.set()
    worker.stop()
    if server is not None:
        server.stop()
    broker.close()
    runtime.close()


def run_workers(
    config: Config, queues: Sequence[str] | None, processes: int, threads: int, health: HealthAddress | None = None
) -> None:
    """`postal worker`: run in this process, or start `processes` children and wait for them;
    the health server (when `health` is given) serves the whole group."""
    if processes <= 1:
        _serve(config, queues, threads, health)
        return
    metrics_dir = _group_metrics_dir()
    try:
        _run_group(config, queues, processes, threads, health, metrics_dir)
    finally:
        if metrics.MULTIPROC_ENV not in _operator_env:
            shutil.rmtree(metrics_dir, ignore_errors=True)


# Whether the operator chose the multiprocess directory (read before this module sets it).
_operator_env = {k: v for k, v in os.environ.items() if k == metrics.MULTIPROC_ENV}


def _group_metrics_dir() -> Path:
    """The group's metric directory, empty: the operator's `PROMETHEUS_MULTIPROC_DIR`, else a new
    temporary one. Set in the environment before the children start, which is when
    prometheus-client decides where their values live."""
    chosen = _operator_env.get(metrics.MULTIPROC_ENV)
    path = metrics.prepare_multiprocess_dir(Path(chosen)) if chosen else Path(tempfile.mkdtemp(prefix="postal-worker-"))
    os.environ[metrics.MULTIPROC_ENV] = str(path)
    return path


def _run_group(
    config: Config,
    queues: Sequence[str] | None,
    processes: int,
    threads: int,
    health: HealthAddress | None,
    metrics_dir: Path,
) -> None:
    server = None
    database = None
    if health is not None:
        database = Database.from_config(config)
        registry = metrics.multiprocess_registry(metrics_dir, database.engine)
        server = start_health_server(HEALTH_NAME, health[0], health[1], registry)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_serve, args=(config, queues, threads), name=f"postal-worker-{n}")
        for n in range(processes)
    ]
    for child in children:
        child.start()

    def forward(sig: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
        if child.pid is not None:
            metrics.process_exited(child.pid, metrics_dir)
    if server is not None:
        server.stop()
    if database is not None:
        database.dispose()
