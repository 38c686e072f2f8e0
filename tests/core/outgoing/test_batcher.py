"""The thread batcher: concurrent submissions share a batch, each gets its own result or error."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.outgoing.batcher import ThreadBatcher


def test_an_idle_batcher_writes_at_once_and_a_busy_one_groups() -> None:
    batches: list[list[int]] = []
    release = threading.Event()

    def process(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(10)  # the first batch is slow: the others queue up meanwhile
        return [item * 10 for item in items]

    batcher: ThreadBatcher[int, int] = ThreadBatcher(process, max_batch=100, concurrency=1)
    with ThreadPoolExecutor(max_workers=11) as pool:
        first = pool.submit(batcher.submit, 0)
        while not batches:
            time.sleep(0.01)
        rest = [pool.submit(batcher.submit, n) for n in range(1, 11)]
        while len(batcher._pending) < 10:
            time.sleep(0.01)
        release.set()
        assert first.result(10) == 0
        assert [f.result(10) for f in rest] == [n * 10 for n in range(1, 11)]
    assert batches[0] == [0] and sorted(batches[1]) == list(range(1, 11)) and len(batches) == 2


def test_a_failed_batch_fails_each_of_its_submissions() -> None:
    down = threading.Event()
    down.set()

    def process(items: Sequence[int]) -> list[int]:
        if down.is_set():
            raise RuntimeError("database down")
        return list(items)

    batcher: ThreadBatcher[int, int] = ThreadBatcher(process)
    with pytest.raises(RuntimeError, match="database down"):
        batcher.submit(1)
    # And it keeps working afterwards.
    down.clear()
    assert batcher.submit(2) == 2
