"""Group commit: many threads each hand in one item and wait until it is written, and the items
that arrive while a write is running go together in the next one.

A worker's delivery threads record each delivery the moment its `250` arrives (so a crash can
repeat at most the deliveries in flight, one per thread), yet the database sees one transaction
for all the outcomes that came in meanwhile, not one per message. No thread of its own: the
first waiting caller writes the batch (the leader); the others wait for it, and when it is done
one of those still waiting leads the next batch. A thread therefore never writes more than the
one batch that holds its own item.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# Writes a batch; returns, for each item in order, None when it was written or the exception
# that kept it from being written. An exception it raises applies to the whole batch.
Writer = Callable[[Sequence[T]], Sequence[BaseException | None]]


class GroupCommitFailed(Exception):
    """The batch that held this thread's item could not be written (raised in the waiting
    threads; the thread that wrote it gets the original exception)."""


@dataclass
class _Entry(Generic[T]):
    item: T
    done: bool = False
    error: BaseException | None = None


@dataclass
class GroupCommit(Generic[T]):
    """Batches of items from concurrent callers of `submit`, each written by one `Writer` call."""

    max_batch: int = 100
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _pending: list[_Entry[T]] = field(default_factory=list)
    _leading: bool = False
    batches: int = 0

    def submit(self, item: T, write: Writer[T]) -> None:
        """Return once `item` is written (by this thread or another); raise what kept it from it."""
        entry = _Entry(item)
        with self._cond:
            self._pending.append(entry)
            while self._leading and not entry.done:
                self._cond.wait()
            leader = not entry.done
            if leader:
                self._leading = True
                others = [e for e in self._pending if e is not entry]
                batch = [entry, *others[: self.max_batch - 1]]
                self._pending = others[self.max_batch - 1 :]
        if leader:
            self._write(batch, write)
        if entry.error is None:
            return
        if leader:
            raise entry.error
        # Another thread's exception object is not raised here again (its traceback is theirs).
        raise GroupCommitFailed(f"{type(entry.error).__name__}: {entry.error}") from entry.error

    def _write(self, batch: list[_Entry[T]], write: Writer[T]) -> None:
        try:
            results: Sequence[BaseException | None] = write([e.item for e in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"the writer answered for {len(results)} of {len(batch)} items")
        except BaseException as exc:
            results = [exc] * len(batch)
        with self._cond:
            for entry, error in zip(batch, results, strict=True):
                entry.error = error
                entry.done = True
            self.batches += 1
            self._leading = False
            self._cond.notify_all()
