"""Open SMTP sessions per destination, shared by the worker threads of one process.

Messages for the same destination reuse a connection (RSET between them, as Postal's batches do)
without queueing behind one thread: up to `max_per_destination` sessions run side by side. A
destination that could not be reached is remembered for `failure_ttl` seconds, so its other
queued messages fail over to their retry schedule at once instead of each waiting for the
connection timeout (Postal reuses the failed result for the rest of its batch).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field

from core.mail.smtp_client import SMTPSender


@dataclass
class _Destination:
    idle: list[tuple[float, SMTPSender]] = field(default_factory=list)
    active: int = 0
    failed: tuple[float, SMTPSender] | None = None


class SenderPool:
    def __init__(
        self,
        factory: Callable[[Hashable], SMTPSender],
        max_per_destination: int = 5,
        idle_timeout: float = 30.0,
        failure_ttl: float = 60.0,
        wait_timeout: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.factory = factory
        self.max_per_destination = max_per_destination
        self.idle_timeout = idle_timeout
        self.failure_ttl = failure_ttl
        self.wait_timeout = wait_timeout
        self.clock = clock
        self._cond = threading.Condition()
        self._destinations: dict[Hashable, _Destination] = {}

    @contextlib.contextmanager
    def session(self, key: Hashable) -> Iterator[SMTPSender]:
        """A session for `key`: an idle one, a new one, or the remembered failure to connect."""
        sender, kind = self._checkout(key)
        if kind == "failed":
            yield sender
            return
        if kind == "new" and not sender.start():
            with self._cond:
                dest = self._destinations[key]
                dest.active -= 1
                dest.failed = (self.clock(), sender)
                self._cond.notify_all()
            yield sender
            return
        try:
            yield sender
        finally:
            self._checkin(key, sender)

    def _checkout(self, key: Hashable) -> tuple[SMTPSender, str]:
        deadline = self.clock() + self.wait_timeout
        to_close: list[SMTPSender] = []
        try:
            with self._cond:
                dest = self._destinations.setdefault(key, _Destination())
                while True:
                    now = self.clock()
                    if dest.failed is not None:
                        if now - dest.failed[0] < self.failure_ttl:
                            return dest.failed[1], "failed"
                        dest.failed = None
                    while dest.idle:
                        last_used, sender = dest.idle.pop()
                        if now - last_used < self.idle_timeout:
                            dest.active += 1
                            return sender, "reused"
                        to_close.append(sender)
                    if dest.active < self.max_per_destination or now >= deadline:
                        dest.active += 1
                        return self.factory(key), "new"
                    self._cond.wait(max(0.0, deadline - now))
        finally:
            for sender in to_close:
                sender.finish()

    def _checkin(self, key: Hashable, sender: SMTPSender) -> None:
        with self._cond:
            dest = self._destinations[key]
            dest.active -= 1
            if sender.connected:
                dest.idle.append((self.clock(), sender))
            self._cond.notify_all()

    def close_idle(self) -> None:
        """Say QUIT to sessions idle for longer than `idle_timeout`."""
        now = self.clock()
        stale: list[SMTPSender] = []
        with self._cond:
            for dest in self._destinations.values():
                keep = [(t, s) for t, s in dest.idle if now - t < self.idle_timeout]
                stale += [s for t, s in dest.idle if now - t >= self.idle_timeout]
                dest.idle = keep
        for sender in stale:
            sender.finish()

    def close(self) -> None:
        with self._cond:
            senders = [s for dest in self._destinations.values() for _, s in dest.idle]
            self._destinations.clear()
        for sender in senders:
            sender.finish()
