"""Group commit: every item written once, each caller back only after its own item is written,
and items that arrive during a write share the next one."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from core.group_commit import GroupCommit, GroupCommitFailed


def test_concurrent_items_are_written_once_each_in_shared_batches() -> None:
    group: GroupCommit[int] = GroupCommit()
    written: list[list[int]] = []
    returned_after_write: list[bool] = []

    def write(items: Sequence[int]) -> list[BaseException | None]:
        time.sleep(0.01)  # a commit takes a while; others queue up meanwhile
        written.append(list(items))
        return [None] * len(items)

    def submit(n: int) -> None:
        for i in range(10):
            item = n * 100 + i
            group.submit(item, write)
            returned_after_write.append(any(item in batch for batch in written))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = sorted(i for batch in written for i in batch)
    assert everything == sorted(n * 100 + i for n in range(8) for i in range(10))
    assert all(returned_after_write) and len(returned_after_write) == 80
    assert len(written) < 80  # batched: far fewer writes than items
    assert max(len(batch) for batch in written) > 1


def test_a_failed_item_raises_in_its_own_thread_only() -> None:
    group: GroupCommit[str] = GroupCommit()
    gate = threading.Event()
    first_started = threading.Event()

    def write(items: Sequence[str]) -> list[BaseException | None]:
        if "first" in items:
            first_started.set()
            gate.wait(5)
        return [ValueError(f"cannot write {i}") if i.startswith("bad") else None for i in items]

    outcomes: dict[str, str] = {}

    def submit(item: str) -> None:
        try:
            group.submit(item, write)
            outcomes[item] = "written"
        except ValueError as exc:
            outcomes[item] = f"leader: {exc}"
        except GroupCommitFailed as exc:
            outcomes[item] = f"waiter: {exc}"

    leader = threading.Thread(target=submit, args=("first",))
    leader.start()
    assert first_started.wait(5)
    # These two wait for the first write and then go in one batch together.
    waiters = [threading.Thread(target=submit, args=(item,)) for item in ("bad-1", "good-1")]
    for thread in waiters:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in [leader, *waiters]:
        thread.join(5)
    assert outcomes["first"] == "written"
    assert outcomes["good-1"] == "written"
    assert outcomes["bad-1"] in {"leader: cannot write bad-1", "waiter: ValueError: cannot write bad-1"}
    assert group.batches == 2


def test_a_writer_that_raises_fails_the_whole_batch_and_the_next_one_still_runs() -> None:
    group: GroupCommit[int] = GroupCommit()

    def broken(items: Sequence[int]) -> list[BaseException | None]:
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError, match="went away"):
        group.submit(1, broken)
    written: list[int] = []

    def working(items: Sequence[int]) -> list[BaseException | None]:
        written.extend(items)
        return [None] * len(items)

    group.submit(2, working)
    assert written == [2]


def test_batches_hold_at_most_max_batch_items_and_the_leaders_own() -> None:
    group: GroupCommit[int] = GroupCommit(max_batch=3)
    release = threading.Event()
    sizes: list[int] = []

    def write(items: Sequence[int]) -> list[BaseException | None]:
        if 0 in items:
            release.wait(5)
        sizes.append(len(items))
        return [None] * len(items)

    threads = [threading.Thread(target=group.submit, args=(0, write))]
    threads[0].start()
    time.sleep(0.05)
    threads += [threading.Thread(target=group.submit, args=(n, write)) for n in range(1, 8)]
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.1)
    release.set()
    for thread in threads:
        thread.join(5)
    assert sum(sizes) == 8
    assert max(sizes) <= 3
