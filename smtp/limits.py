"""Per-client-address limits of the SMTP server: concurrent connections and failed AUTH attempts.

Both are counted per server process (one event loop), shared by every listener of that process;
they are additions to Postal, which has neither (docs/configuration.md, `smtp_server`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class ConnectionLimiter:
    """Counts open connections per client address; `limit` 0 means no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, ip: str) -> bool:
        """Takes a slot for one more connection from `ip`; False when it already has `limit`."""
        count = self._open.get(ip, 0)
        if self.limit > 0 and count >= self.limit:
            return False
        self._open[ip] = count + 1
        return True

    def release(self, ip: str) -> None:
        count = self._open.get(ip, 0) - 1
        if count > 0:
            self._open[ip] = count
        else:
            self._open.pop(ip, None)

    def open_connections(self, ip: str) -> int:
        return self._open.get(ip, 0)


class AuthThrottle:
    """Failed AUTH attempts per client address over a sliding window of `window` seconds; once an
    address has `limit` of them it is blocked until the oldest leaves the window. `limit` 0 means
    no limit. A success does not clear the count: one good password does not buy more guesses."""

    # Forget addresses whose failures have all expired every this many recorded failures,
    # so that the table does not grow with every address that ever failed once.
    SWEEP_EVERY = 1000

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._recorded = 0

    def blocked(self, ip: str) -> bool:
        if self.limit <= 0:
            return False
        failures = self._failures.get(ip)
        return failures is not None and len(self._prune(failures)) >= self.limit

    def record_failure(self, ip: str) -> None:
        if self.limit <= 0:
            return
        self._prune(self._failures.setdefault(ip, deque())).append(self._clock())
        self._recorded += 1
        if self._recorded % self.SWEEP_EVERY == 0:
            self._sweep()

    def _prune(self, failures: deque[float]) -> deque[float]:
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def _sweep(self) -> None:
        horizon = self._clock() - self.window
        for ip in [ip for ip, failures in self._failures.items() if not failures or failures[-1] <= horizon]:
            del self._failures[ip]
