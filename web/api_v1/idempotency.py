"""`Idempotency-Key` on the send endpoints (an addition to Postal): a repeat sends nothing.

The first request with a key claims it by inserting a row (the unique key on server and key makes
concurrent claims race in the database, which lets exactly one win); when it succeeds, its response
data is stored on the row. A repeat within `LIFETIME` gets that data back; a repeat that arrives
while the first is still running waits for it, briefly. A first request that fails releases the
key, so the client can fix the request and retry with the same key. A key reused for a different
request (other endpoint or parameters) is refused rather than answered with someone else's data.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db import Database
from models.base import table, utcnow
from models.idempotency_key import LIFETIME, IdempotencyKey
from web.api_v1.envelope import APIError

KEYS = table(IdempotencyKey)
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class KeyInvalid(APIError):
    def __init__(self) -> None:
        super().__init__(
            "InvalidIdempotencyKey",
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        )


class KeyReused(APIError):
    def __init__(self) -> None:
        super().__init__("IdempotencyKeyReused", "This Idempotency-Key was already used for a different request")


class KeyInUse(APIError):
    """The first request with this key is still running (or died without finishing)."""

    def __init__(self) -> None:
        super().__init__(
            "IdempotencyKeyInUse", "A request with this Idempotency-Key is still in progress; try again later"
        )


def check_key(value: str) -> str:
    if not 0 < len(value) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in value):
        raise KeyInvalid()
    return value


def fingerprint(endpoint: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([endpoint, params], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """This request owns the key: it must `complete` or `release` it."""

    row_id: int


@dataclass(frozen=True)
class Replay:
    """The key was used before: answer with the first response's data."""

    data: Any


class IdempotencyKeys:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utcnow,
        wait_seconds: float = 10.0,
        poll_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.clock = clock
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.sleep = sleep

    def begin(self, server_id: int, key: str, print_: str) -> Claim | Replay:
        """Claim `key`, or the first response to it; raises KeyReused or KeyInUse."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            claimed = self._insert(server_id, key, print_)
            if claimed is not None:
                return Claim(claimed)
            row = self._find(server_id, key)
            if row is None:
                continue  # released or pruned since the insert failed: try again
            if row.created_at <= self.clock() - LIFETIME:
                self._delete(row.id)
                continue
            if row.fingerprint != print_:
                raise KeyReused()
            if row.response is not None:
                return Replay(json.loads(row.response))
            if time.monotonic() >= deadline:
                raise KeyInUse()
            self.sleep(self.poll_seconds)

    def complete(self, claim: Claim, data: Any) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(update(KEYS).where(KEYS.c.id == claim.row_id).values(response=json.dumps(data)))

    def release(self, claim: Claim) -> None:
        self._delete(claim.row_id)

    def _insert(self, server_id: int, key: str, print_: str) -> int | None:
        try:
            with self.db.engine.begin() as conn:
                result = conn.execute(
                    insert(KEYS).values(server_id=server_id, key=key, fingerprint=print_, created_at=self.clock())
                )
                inserted = result.inserted_primary_key
                assert inserted is not None
                return int(inserted[0])
        except IntegrityError:
            return None

    def _find(self, server_id: int, key: str) -> Any:
        with self.db.reader.connect() as conn:
            return conn.execute(select(KEYS).where(KEYS.c.server_id == server_id, KEYS.c.key == key)).first()

    def _delete(self, row_id: int) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(delete(KEYS).where(KEYS.c.id == row_id))
