"""Per-token rate limits: an in-process token bucket for each API token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`rate_per_minute` requests a minute on average, `burst` at once; 0 means no limit.

    In-process: with several web processes each keeps its own buckets, so the effective limit is
    per process. Good enough to stop a runaway script; a shared limit would need shared state."""

    def __init__(
        self, rate_per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = max(1, burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key: int) -> float:
        """Take one request from `key`'s bucket; 0.0 if allowed, else seconds until it would be."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            if len(self._buckets) >= self.max_keys and key not in self._buckets:
                # Forget buckets that have filled up again: they are the same as new ones.
                self._buckets = {
                    k: (t, at) for k, (t, at) in self._buckets.items() if t + (now - at) * self.rate < self.burst
                }
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
