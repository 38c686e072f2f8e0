"""The per-day raw tables are safe to look up from many threads at once."""

from __future__ import annotations

import threading
import uuid

from models.message.raw import raw_table


def test_concurrent_first_lookups_all_see_a_complete_table() -> None:
    name = f"raw-test-{uuid.uuid4().hex[:8]}"
    start = threading.Barrier(32)
    columns: list[list[str]] = []

    def look() -> None:
        start.wait()
        columns.append([c.name for c in raw_table(name).c])

    threads = [threading.Thread(target=look) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert columns == [["id", "data", "next"]] * 32
