"""Groups the submissions of concurrent threads (HTTP API requests) into one database batch.

The thread-side twin of `smtp.batcher.Batcher`: while a batch is being written, new submissions
wait; whoever finds room runs the next batch itself, in its own thread, and keeps going while
submissions are waiting. An idle server therefore writes each message at once, and a busy one
writes many per transaction instead of one transaction per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class ThreadBatcher(Generic[In, Out]):
    def __init__(self, process: Callable[[Sequence[In]], Sequence[Out]], max_batch: int = 100, concurrency: int = 2):
        self._process = process
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._lock = threading.Lock()
        self._pending: list[tuple[In, Future[Out]]] = []
        self._running = 0

    def submit(self, item: In) -> Out:
        """The result for `item`, once the batch holding it is written; raises what that raised."""
        future: Future[Out] = Future()
        with self._lock:
            self._pending.append((item, future))
            batch = self._take()
        if batch:
            self._run(batch)
        return future.result()

    def _take(self) -> list[tuple[In, Future[Out]]]:
        """The next batch, if there is one and room to run it (the lock is held)."""
        if not self._pending or self._running >= self._concurrency:
            return []
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
        self._running += 1
        return batch

    def _run(self, batch: list[tuple[In, Future[Out]]]) -> None:
        while batch:
            try:
                results = self._process([item for item, _ in batch])
            except Exception as exc:
                log.exception("storing a batch of %d submissions failed", len(batch))
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
            with self._lock:
                self._running -= 1
                batch = self._take()
