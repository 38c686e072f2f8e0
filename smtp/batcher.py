"""Groups the DATA of concurrent SMTP sessions into one database batch, off the event loop.

While a batch is being written, new submissions wait; when it is done they all go in the next
batch. An idle server therefore writes each message at once, and a busy one writes many per
transaction (DESIGN §10: the per-message budget is about 2 ms). A batch costs a dozen
statements, two commits and a thread hand-off whatever its size, so a batch is started at the
end of the event loop's current round rather than by the first submission in it: the messages
whose data ended in the same round go together, at no cost in latency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        process: Callable[[Sequence[In]], Sequence[Out]],
        max_batch: int = 100,
        concurrency: int = 2,
    ) -> None:
        self._process = process
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._running = 0
        self._kick_scheduled = False

    async def drain(self, timeout: float) -> bool:
        """Wait until every submitted item has its result (at shutdown); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending or self._running:
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def submit(self, item: In) -> Out:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._pending.append((item, future))
        if not self._kick_scheduled:
            # Callbacks scheduled now run after everything already due in this round.
            self._kick_scheduled = True
            loop.call_soon(self._kick)
        return await future

    def _kick(self) -> None:
        self._kick_scheduled = False
        while self._pending and self._running < self._concurrency:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._running += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            results = await asyncio.to_thread(self._process, [item for item, _ in batch])
        except Exception as exc:
            log.exception("storing a batch of %d submissions failed", len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._running -= 1
            self._kick()
