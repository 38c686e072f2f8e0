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
    # Set when the item is written, or when this thread is to lead the next batch.
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass
class GroupCommit(Generic[T]):
    """Batches of items from concurrent callers of `submit`, each written by one `Writer` call.

    Each waiting thread is woken once, by its own event: when its item is written, or when it
    is to lead the next batch (not all of them after every batch, to look again)."""

    max_batch: int = 100
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: list[_Entry[T]] = field(default_factory=list)
    _leading: bool = False
    batches: int = 0

    def submit(self, item: T, write: Writer[T]) -> None:
        """Return once `item` is written (by this thread or another); raise what kept it from it."""
        entry = _Entry(item)
        with self._lock:
            self._pending.append(entry)
            leader = not self._leading
            self._leading = True
        if not leader:
            entry.wake.wait()
            leader = not entry.done  # woken to lead the next batch
        if leader:
            with self._lock:
                others = [e for e in self._pending if e is not entry]
                batch = [entry, *others[: self.max_batch - 1]]
                self._pending = others[self.max_batch - 1 :]
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
        with self._lock:
            for entry, error in zip(batch, results, strict=True):
                entry.error = error
                entry.done = True
            self.batches += 1
            following = self._pending[0] if self._pending else None
            self._leading = following is not None
        for entry in batch[1:]:  # the first is this thread's own
            entry.wake.set()
        if following is not None:
            following.wake.set()
