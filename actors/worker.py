"""Running Dramatiq workers: N processes × M threads consuming the chosen queues."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence

import dramatiq

from actors import declare_actors
from core.broker import BASE_QUEUES, Publisher, create_broker
from core.config import Config
from core.leases import LeaseKeeper
from core.logs import setup_logging
from core.runtime import Runtime
from core.tenancy.ip_pools import host_addresses, local_pool_queues

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
    runtime.leases = LeaseKeeper(runtime.db.engine, runtime.config.worker.lease_seconds, runtime.clock).start()
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


def _serve(config: Config, queues: Sequence[str] | None, threads: int) -> None:
    """One worker process: its own broker connection, runtime and threads, until TERM/INT."""
    setup_logging(config)
    broker = create_broker(config, allow_embedded=False)
    runtime = Runtime.create(config, Publisher(broker))
    worker, watcher = start_worker(broker, runtime, queues, threads)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("worker pid %d stopping: finishing the jobs in hand", os.getpid())
    watcher.set()
    worker.stop()
    broker.close()
    runtime.close()


def run_workers(config: Config, queues: Sequence[str] | None, processes: int, threads: int) -> None:
    """`postal worker`: run in this process, or start `processes` children and wait for them."""
    if processes <= 1:
        _serve(config, queues, threads)
        return
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
